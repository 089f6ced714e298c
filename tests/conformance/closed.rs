//! A tenant's closed output read by the real Compose in a deploy environment that holds
//! a secret the policy does not name: nothing of it reaches the containers, whether the
//! file asked through `${VAR}`, an env file or a bare name in `environment`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use netfence::{Options, Project, Scope};

use super::{unavailable, ComposeCmd};

const SECRET: &str = "s3cret-of-the-platform";

fn fence_as_tenant(dir: &Path) -> String {
    let file = dir.join("compose.yml");
    let input = netfence::load::load(std::slice::from_ref(&file), &mut std::io::empty())
        .expect("the project loads");
    let mut project = Project::new(input, None, dir).expect("built-in policy");
    project.policy.policy.tenant.environment = vec!["REGION".into()];
    let environ: BTreeMap<String, String> = [("PLATFORM_TOKEN", SECRET), ("REGION", "eu-1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let opts = Options {
        scope: Some(Scope::Env("prod".into())),
        project: Some("shop".into()),
        environ,
        ..Options::default()
    };
    let plan = project.plan(&opts).expect("tenant mode accepts the file");
    netfence::yaml::to_string(&project.rewrite(&plan))
}

#[test]
fn compose_reads_no_deploy_variable_from_a_closed_output() {
    let Some(compose) = ComposeCmd::find() else {
        unavailable("Docker Compose v2 not found; scripts/provision-engine.sh installs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.env"),
        "FROM_FILE=${PLATFORM_TOKEN}\nREGION_FROM_FILE=${REGION}\nPLAIN=a$b\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("compose.yml"),
        "services:\n  web:\n    image: nf-prod-shop-web\n    env_file: [./app.env, {path: ./missing.env, required: false}]\n    environment: [PLATFORM_TOKEN, REGION, 'INTERPOLATED=${PLATFORM_TOKEN}', 'PLAIN=overridden']\n    build: {context: ., args: [PLATFORM_TOKEN, REGION]}\n",
    )
    .unwrap();
    let out = dir.path().join("out.yml");
    std::fs::write(&out, fence_as_tenant(dir.path())).unwrap();

    let mut cmd = Command::new(&compose.program);
    cmd.args(&compose.prefix)
        .arg("-f")
        .arg(&out)
        .args(["config", "--format", "json"])
        .current_dir(dir.path())
        .env("PLATFORM_TOKEN", SECRET)
        .env("REGION", "us-2");
    let res = cmd.output().expect("compose runs");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let env = &config["services"]["web"]["environment"];
    let text = env.to_string();
    assert!(
        !text.contains(SECRET),
        "the deploy's secret reached the container: {text}"
    );
    assert_eq!(
        env["REGION"], "eu-1",
        "the named variable as netfence read it: {text}"
    );
    assert_eq!(env["REGION_FROM_FILE"], "eu-1", "{text}");
    assert_eq!(
        env["PLAIN"], "overridden",
        "environment wins over env_file: {text}"
    );
    assert_eq!(env["FROM_FILE"], "", "{text}");
    assert!(env.get("PLATFORM_TOKEN").is_none(), "{text}");
    let args = config["services"]["web"]["build"]["args"].to_string();
    assert!(
        !args.contains(SECRET),
        "the deploy's secret reached the build: {args}"
    );
    assert!(args.contains("eu-1"), "{args}");
}
