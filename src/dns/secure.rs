//! Answers with their DNSSEC status, for DANE (RFC 7672): a query with the AD and DO bits set
//! goes to a validating resolver, and the AD bit of its reply says whether the answer is secure.
//!
//! The AD bit is trusted only from a resolver on loopback or one named in `[dns]
//! dnssec_trusted` (RFC 6698 §4.1, RFC 7672 §2.1: the path between stub and resolver must be
//! secure); others are not asked. hickory's own validation is not used: it needs the zone's
//! trust anchors configured here too and a second build of the resolver, while the deployment
//! RFC 7672 describes (and Postfix and Exim use) is a local validating resolver (unbound).
//!
//! hickory-resolver answers everything else; its `Lookup` hides NXDOMAIN/NODATA replies and
//! their AD bit, so these few queries are made directly: one UDP datagram (at most 4 KiB back),
//! over TCP again when truncated, each try within `[dns] timeout`, `attempts` tries per server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::DnsError;
use crate::config::servers::Dns as Settings;

/// One answer and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The resolver validated it (AD bit set).
    pub secure: bool,
    /// `false` for NXDOMAIN.
    pub exists: bool,
    /// The answer section's data of the type asked for (empty for NODATA and NXDOMAIN).
    pub records: Vec<RData>,
    /// The owner name of those records (lower case, no trailing dot): another name than the
    /// one asked for when a CNAME chain led there.
    pub owner: Option<String>,
}

/// The resolvers whose AD bit counts: `[dns] servers` (or the system's) on loopback or in
/// `dnssec_trusted`.
pub fn trusted_servers(cfg: &Settings) -> Vec<SocketAddr> {
    // resolv.conf is read once a process, as hickory reads it for the other lookups.
    static SYSTEM: std::sync::OnceLock<Vec<SocketAddr>> = std::sync::OnceLock::new();
    let all: Vec<SocketAddr> = if cfg.servers.is_empty() {
        SYSTEM
            .get_or_init(|| {
                hickory_resolver::system_conf::read_system_conf()
                    .map(|(c, _)| {
                        let mut ips: Vec<IpAddr> = c.name_servers().iter().map(|n| n.ip).collect();
                        ips.dedup();
                        ips.into_iter().map(|ip| SocketAddr::new(ip, 53)).collect()
                    })
                    .unwrap_or_default()
            })
            .clone()
    } else {
        cfg.servers.clone()
    };
    all.into_iter()
        .filter(|s| s.ip().is_loopback() || cfg.dnssec_trusted.contains(&s.ip()))
        .collect()
}

/// The query for `name`/`rtype` with id `id`: RD, AD (RFC 6840 §5.7) and EDNS DO set.
pub fn request(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, DnsError> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let name = Name::from_ascii(&fqdn)
        .map_err(|e| DnsError::Temporary(format!("{fqdn} is not a DNS name: {e}")))?;
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.metadata.authentic_data = true;
    m.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    m.set_edns(edns);
    m.to_vec()
        .map_err(|e| DnsError::Temporary(format!("DNS query for {fqdn}: {e}")))
}

/// What a reply to [`request`] says: the answer, or why there is none (SERVFAIL is what a
/// validating resolver answers for bogus data). `None` when the reply is not for this query.
pub fn reply(
    id: u16,
    name: &str,
    rtype: RecordType,
    bytes: &[u8],
) -> Option<Result<Answer, DnsError>> {
    let m = Message::from_vec(bytes).ok()?;
    let asked = m.queries.first()?;
    let same = m.metadata.id == id
        && asked.query_type() == rtype
        && asked
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(name.trim_end_matches('.'));
    if !same {
        return None;
    }
    let secure = m.metadata.authentic_data;
    Some(match m.metadata.response_code {
        ResponseCode::NoError => Ok(Answer {
            secure,
            exists: true,
            records: m
                .answers
                .iter()
                .filter(|r| r.record_type() == rtype)
                .map(|r| r.data.clone())
                .collect(),
            owner: m
                .answers
                .iter()
                .find(|r| r.record_type() == rtype)
                .map(|r| r.name.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
        }),
        ResponseCode::NXDomain => Ok(Answer {
            secure,
            exists: false,
            records: Vec::new(),
            owner: None,
        }),
        ResponseCode::ServFail => Err(DnsError::Temporary(format!(
            "{rtype} lookup for {name}: SERVFAIL (DNSSEC validation failed or no answer)"
        ))),
        other => Err(DnsError::Temporary(format!(
            "{rtype} lookup for {name}: {other}"
        ))),
    })
}

/// Ask the trusted resolvers in turn for `name`/`rtype`.
pub async fn query(cfg: &Settings, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
    let servers = trusted_servers(cfg);
    let mut last = DnsError::Temporary(
        "no validating resolver to ask: [dns] servers has none on loopback or in dnssec_trusted"
            .into(),
    );
    for server in servers {
        for _ in 0..cfg.attempts.max(1) {
            let id: u16 = rand::random();
            let req = request(id, name, rtype)?;
            let limit = cfg.timeout.duration();
            let got = tokio::time::timeout(limit, ask(server, &req, id, name, rtype)).await;
            match got {
                Ok(Ok(answer)) => return answer,
                Ok(Err(e)) => last = DnsError::Temporary(format!("{server}: {e}")),
                Err(_) => {
                    last = DnsError::Temporary(format!(
                        "{rtype} lookup for {name} at {server}: no reply within {limit:?}"
                    ))
                }
            }
        }
    }
    Err(last)
}

/// One try at one server: UDP, then TCP when the reply is truncated.
async fn ask(
    server: SocketAddr,
    req: &[u8],
    id: u16,
    name: &str,
    rtype: RecordType,
) -> std::io::Result<Result<Answer, DnsError>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let udp = tokio::net::UdpSocket::bind(local).await?;
    udp.connect(server).await?;
    udp.send(req).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = udp.recv(&mut buf).await?;
        let bytes = buf.get(..n).unwrap_or_default();
        let truncated = Message::from_vec(bytes).is_ok_and(|m| m.metadata.truncation);
        if truncated {
            return tcp(server, req, id, name, rtype).await;
        }
        // Not ours (a late reply to an earlier try): keep listening until the time runs out.
        if let Some(answer) = reply(id, name, rtype, bytes) {
            return Ok(answer);
        }
    }
}

async fn tcp(
    server: SocketAddr,
    req: &[u8],
    id: u16,
    name: &str,
    rtype: RecordType,
) -> std::io::Result<Result<Answer, DnsError>> {
    let mut s = tokio::net::TcpStream::connect(server).await?;
    let len = u16::try_from(req.len()).map_err(std::io::Error::other)?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(req).await?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await?;
    reply(id, name, rtype, &buf)
        .ok_or_else(|| std::io::Error::other("a TCP reply for another query"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;
    use hickory_resolver::proto::rr::rdata::A;
    use hickory_resolver::proto::rr::Record;

    fn answer_to(req: &[u8], code: ResponseCode, ad: bool, a: Option<[u8; 4]>) -> Vec<u8> {
        let q = Message::from_vec(req).unwrap();
        let mut m = Message::response(q.metadata.id, q.metadata.op_code);
        m.metadata.response_code = code;
        m.metadata.authentic_data = ad;
        m.add_queries(q.queries.clone());
        if let Some(ip) = a {
            m.add_answer(Record::from_rdata(
                q.queries[0].name().clone(),
                60,
                RData::A(A::from(Ipv4Addr::from(ip))),
            ));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn query_sets_ad_and_do() {
        let req = request(7, "mx.a.test", RecordType::TLSA).unwrap();
        let m = Message::from_vec(&req).unwrap();
        assert!(m.metadata.authentic_data && m.metadata.recursion_desired);
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
        assert_eq!(m.queries[0].name().to_ascii(), "mx.a.test.");
    }

    #[test]
    fn replies_carry_their_status() {
        let req = request(9, "mx.a.test", RecordType::A).unwrap();
        let ok = answer_to(&req, ResponseCode::NoError, true, Some([127, 0, 0, 1]));
        let a = reply(9, "mx.a.test", RecordType::A, &ok).unwrap().unwrap();
        assert!(a.secure && a.exists && a.records.len() == 1);
        assert_eq!(a.owner.as_deref(), Some("mx.a.test"));
        let insecure = answer_to(&req, ResponseCode::NoError, false, Some([127, 0, 0, 1]));
        assert!(
            !reply(9, "mx.a.test", RecordType::A, &insecure)
                .unwrap()
                .unwrap()
                .secure
        );
        let nx = answer_to(&req, ResponseCode::NXDomain, true, None);
        let a = reply(9, "mx.a.test", RecordType::A, &nx).unwrap().unwrap();
        assert!(!a.exists && a.records.is_empty());
        let bogus = answer_to(&req, ResponseCode::ServFail, false, None);
        assert!(reply(9, "mx.a.test", RecordType::A, &bogus)
            .unwrap()
            .is_err());
        // Another id or question is no reply to this query.
        assert!(reply(10, "mx.a.test", RecordType::A, &ok).is_none());
        assert!(reply(9, "mx.b.test", RecordType::A, &ok).is_none());
        assert!(reply(9, "mx.a.test", RecordType::A, b"junk").is_none());
    }

    #[test]
    fn only_loopback_or_named_resolvers_are_trusted() {
        let cfg = Settings {
            servers: vec![
                "127.0.0.1:5353".parse().unwrap(),
                "192.0.2.1:53".parse().unwrap(),
                "192.0.2.2:53".parse().unwrap(),
                "[::1]:53".parse().unwrap(),
            ],
            dnssec_trusted: vec!["192.0.2.2".parse().unwrap()],
            ..Settings::default()
        };
        let got: Vec<String> = trusted_servers(&cfg)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(got, ["127.0.0.1:5353", "192.0.2.2:53", "[::1]:53"]);
    }
}
