//! `feedwall snapshot inspect`: what a snapshot holds, for operators.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::snapshot::ArchivedSnapshot;
use crate::wire::{records_at_qname, rtype, NameDisplay};

fn type_name(t: u16) -> String {
    match t {
        rtype::A => "A".into(),
        rtype::AAAA => "AAAA".into(),
        rtype::NS => "NS".into(),
        rtype::SOA => "SOA".into(),
        rtype::TXT => "TXT".into(),
        other => format!("TYPE{other}"),
    }
}

/// Text report.
pub fn text(s: &ArchivedSnapshot, with_names: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "zone       {}", NameDisplay(&s.zone));
    let _ = writeln!(o, "serial     {}", s.serial.to_native());
    let _ = writeln!(o, "created    {} (unix)", s.created_unix.to_native());
    let _ = writeln!(o, "names      {}", s.names.len());
    let _ = writeln!(o, "devices    {}", s.devices.len());
    let _ = writeln!(
        o,
        "acl ranges {} IPv4, {} IPv6",
        s.acl_v4_starts.len(),
        s.acl_v6_starts.len()
    );
    let _ = writeln!(o, "lists      {}", s.lists.len());
    for l in s.lists.iter() {
        let _ = writeln!(
            o,
            "  {:<20} audience={} v4={} v6={} wide={} chunks={} capacity={} names=0..{}.{}.{} source={}",
            l.name.as_str(),
            l.audience.to_native(),
            l.v4_hosts.to_native(),
            l.v6_hosts.to_native(),
            l.wide_v4.len() + l.wide_v6.len(),
            l.chunks.to_native(),
            l.capacity.to_native(),
            l.capacity.to_native().saturating_sub(1),
            l.name.as_str(),
            NameDisplay(&s.zone),
            l.source.as_str()
        );
    }
    for (i, d) in s.devices.iter().enumerate() {
        let prefixes: Vec<&str> = d.prefixes.iter().map(|p| p.as_str()).collect();
        let _ = writeln!(
            o,
            "  device {i} {:<16} account={} prefixes={}",
            d.name.as_str(),
            d.account.to_native(),
            prefixes.join(",")
        );
    }
    if with_names {
        for e in s.names.iter() {
            let sets: Vec<String> = e
                .rrsets
                .iter()
                .map(|r| format!("{}x{}", type_name(r.rtype.to_native()), r.count.to_native()))
                .collect();
            let _ = writeln!(
                o,
                "{} audience={} {}",
                NameDisplay(&e.name),
                e.audience.to_native(),
                if sets.is_empty() {
                    "(no data)".into()
                } else {
                    sets.join(" ")
                }
            );
        }
    }
    o
}

/// JSON report.
pub fn json(s: &ArchivedSnapshot, with_names: bool) -> serde_json::Value {
    let lists: Vec<serde_json::Value> = s
        .lists
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name.as_str(),
                "audience": l.audience.to_native(),
                "v4_hosts": l.v4_hosts.to_native(),
                "v6_hosts": l.v6_hosts.to_native(),
                "chunks": l.chunks.to_native(),
                "capacity": l.capacity.to_native(),
                "wide": l.wide_v4.iter().map(|w| format!("{}/{}", Ipv4Addr::from(w.0.to_native()), w.1))
                    .chain(l.wide_v6.iter().map(|w| format!("{}/{}", Ipv6Addr::from(w.0.to_native()), w.1)))
                    .collect::<Vec<_>>(),
                "source": l.source.as_str(),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "zone": NameDisplay(&s.zone).to_string(),
        "serial": s.serial.to_native(),
        "created_unix": s.created_unix.to_native(),
        "names": s.names.len(),
        "devices": s.devices.iter().map(|d| serde_json::json!({
            "name": d.name.as_str(), "account": d.account.to_native(),
            "prefixes": d.prefixes.iter().map(|p| p.as_str()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "lists": lists,
    });
    if with_names {
        v["records"] = s
            .names
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": NameDisplay(&e.name).to_string(),
                    "audience": e.audience.to_native(),
                    "rrsets": e.rrsets.iter().map(|r| serde_json::json!({
                        "type": type_name(r.rtype.to_native()),
                        "count": r.count.to_native(),
                        "data": records_at_qname(&r.wire).map(|rec| rdata_text(rec.rtype, rec.rdata)).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
    }
    v
}

fn rdata_text(t: u16, r: &[u8]) -> String {
    match (t, r.len()) {
        (rtype::A, 4) => Ipv4Addr::from(<[u8; 4]>::try_from(r).expect("4")).to_string(),
        (rtype::AAAA, 16) => Ipv6Addr::from(<[u8; 16]>::try_from(r).expect("16")).to_string(),
        (rtype::NS, _) => NameDisplay(r).to_string(),
        (rtype::TXT, _) => {
            let mut out = Vec::new();
            let mut p = 0;
            while p < r.len() {
                let l = r[p] as usize;
                out.push(String::from_utf8_lossy(&r[p + 1..(p + 1 + l).min(r.len())]).into_owned());
                p += 1 + l;
            }
            out.join(" ")
        }
        _ => r.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
