//! `netfence graph`: the fenced topology as Mermaid, DOT, or (through Graphviz) SVG/PNG.
//! Exit 3 when Graphviz is missing or fails: like the engine and Compose, it is an
//! outside program netfence drives, not the user's input.

use netfence::graph::{render_dot, Graph};
use netfence::Target;

use crate::args::GraphFormat;
use crate::exit::ExitStatus;
use crate::settings::GraphSettings;

pub fn run(s: GraphSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    let opts = s.input.options(&project, Target::Compose);
    let plan = project.plan(&opts)?;
    let graph = Graph::new(&plan, &project.unfenced);
    let bytes = match s.format {
        GraphFormat::Mermaid => graph.mermaid().into_bytes(),
        GraphFormat::Dot => graph.dot().into_bytes(),
        GraphFormat::Svg | GraphFormat::Png => {
            let format = if s.format == GraphFormat::Svg {
                "svg"
            } else {
                "png"
            };
            match render_dot(&graph.dot(), format) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("netfence: error: {e}");
                    return Ok(ExitStatus::External);
                }
            }
        }
    };
    match &s.output {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
        None => super::emit_bytes(&bytes)?,
    }
    Ok(ExitStatus::Success)
}
