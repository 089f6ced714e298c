//! The engine's own answer to a name, asked from inside a container's network namespace
//! without any image: a thread joins the namespace (`setns`), opens a UDP socket there and
//! asks the engine's embedded DNS server (127.0.0.11), which answers as it answers that
//! container. Only a name the container's project holds is asked: the engine answers it
//! from its own records, so nothing is forwarded off the machine. Needs root and the
//! engine on this host; otherwise the reason is returned.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, Question, CLASS, TYPE};

/// Where the engine's DNS server listens inside every container on a user network.
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(127, 0, 0, 11), 53);
/// One try's wait, and the tries: a loaded engine can miss one.
const WAIT: Duration = Duration::from_secs(2);
const TRIES: usize = 3;

/// What each name resolved to (`Ok(empty)`: no such name), asked from the network
/// namespace of the process `pid`; `Err` when the namespace could not be entered.
pub(super) fn ask(
    pid: i64,
    names: Vec<String>,
) -> Result<BTreeMap<String, Result<Vec<IpAddr>, String>>, String> {
    if pid <= 0 {
        return Err("the container is not running".into());
    }
    let ns = File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("opening its network namespace: {e}"))?;
    // setns moves only the calling thread: a thread of its own, gone afterwards.
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("entering its network namespace: {e} (needs root)"))?;
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(|e| format!("a socket in its namespace: {e}"))?;
        sock.set_read_timeout(Some(WAIT))
            .map_err(|e| e.to_string())?;
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let got = query(&sock, &n, i as u16);
                (n, got)
            })
            .collect())
    })
    .join()
    .map_err(|_| "the lookup thread panicked".to_owned())?
}

fn query(sock: &UdpSocket, name: &str, id: u16) -> Result<Vec<IpAddr>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(simple_dns::PacketFlag::RECURSION_DESIRED);
    let qname = Name::new(name).map_err(|e| format!("`{name}`: {e}"))?;
    packet.questions.push(Question::new(
        qname,
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    let bytes = packet.build_bytes_vec().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let mut last = String::from("no answer");
    for _ in 0..TRIES {
        if let Err(e) = sock.send_to(&bytes, SERVER) {
            last = e.to_string();
            continue;
        }
        match sock.recv(&mut buf) {
            Ok(n) => return addresses(&buf[..n], id),
            Err(e) => last = format!("no answer within {WAIT:?} ({e})"),
        }
    }
    Err(last)
}

fn addresses(reply: &[u8], id: u16) -> Result<Vec<IpAddr>, String> {
    let p = Packet::parse(reply).map_err(|e| format!("an answer that does not parse: {e}"))?;
    if p.id() != id {
        return Err("an answer to another question".into());
    }
    Ok(p.answers
        .iter()
        .filter_map(|rr| match &rr.rdata {
            RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_for_its_addresses_and_another_ones_is_refused() {
        let mut reply = Packet::new_reply(7);
        reply.answers.push(simple_dns::ResourceRecord::new(
            Name::new_unchecked("db"),
            CLASS::IN,
            600,
            RData::A(simple_dns::rdata::A {
                address: u32::from(Ipv4Addr::new(10, 1, 0, 2)),
            }),
        ));
        let bytes = reply.build_bytes_vec().unwrap();
        assert_eq!(
            addresses(&bytes, 7).unwrap(),
            [IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2))]
        );
        assert!(addresses(&bytes, 8).is_err());
        assert!(addresses(&bytes[..5], 7).is_err());
    }
}
