//! What the admin database adds to the snapshot: every account's devices
//! (the ACL), and for advanced accounts their allow list, deny list and
//! custom lookups, published under the account's own subtree.
//!
//! Names: `<n>.<lookup>.<account-label>.acct.<apex>`, where the account
//! label is random (it says nothing about the account) and `<lookup>` is
//! `allow`, `deny` or a custom lookup's label. Every name under an
//! account's subtree carries that account as its audience, so other
//! accounts' devices get REFUSED for it, whether it exists or not.
//!
//! A custom lookup is the union of its chosen feeds, plus the deny list,
//! minus the allow list.

use std::collections::HashSet;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::store::{ListKind, PublishInputs};
use crate::snapshot::{DeviceSpec, ListSpec};

/// Parent label of every account subtree.
pub const ACCOUNT_SUBTREE: &str = "acct";
/// Reserved lookup labels.
pub const ALLOW_LABEL: &str = "allow";
pub const DENY_LABEL: &str = "deny";

/// List name (labels below the apex) of an account's lookup.
pub fn account_list_name(account_label: &str, lookup_label: &str) -> String {
    format!("{lookup_label}.{account_label}.{ACCOUNT_SUBTREE}")
}

/// Whether `label` may name a custom lookup: 1-32 of `[a-z0-9-]`, not
/// starting or ending with `-`, not all digits (chunk names are numbers),
/// not `allow` or `deny`.
pub fn lookup_label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() || label.len() > 32 {
        return Some("use 1 to 32 characters");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("use lower-case letters, digits and '-' only");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some("a label cannot start or end with '-'");
    }
    if label.bytes().all(|b| b.is_ascii_digit()) {
        return Some("a label cannot be only digits");
    }
    if label == ALLOW_LABEL || label == DENY_LABEL {
        return Some("'allow' and 'deny' are the names of your allow and deny lists");
    }
    None
}

/// The admin database's part of a snapshot.
#[derive(Debug, Default)]
pub struct AccountSpecs {
    pub lists: Vec<ListSpec>,
    pub devices: Vec<DeviceSpec>,
    pub accounts: Vec<(u32, String)>,
}

/// Builds the lists and devices of every account. `feed` returns the
/// published entries of a feed id (None for unknown feeds, which are
/// skipped). `reserved` are the configuration file's device prefixes: a
/// database device with one of them (or a duplicate) is left out rather
/// than failing the whole snapshot.
pub fn account_specs<'a>(
    inputs: &PublishInputs,
    feed: &dyn Fn(&str) -> Option<&'a [IpNet]>,
    reserved: &[IpNet],
    expand_v4: u8,
    expand_v6: u8,
) -> AccountSpecs {
    let mut out = AccountSpecs::default();
    let mut taken: HashSet<IpNet> = reserved.iter().copied().collect();
    for (id, account, name, prefix) in &inputs.devices {
        if !taken.insert(*prefix) {
            tracing::warn!(device = %name, %prefix, "device prefix already taken; left out of the ACL");
            continue;
        }
        out.devices.push(DeviceSpec {
            key: *id as u64,
            name: name.clone(),
            account: *account as u32,
            prefixes: vec![*prefix],
        });
    }
    for (id, label, advanced) in &inputs.accounts {
        out.accounts.push((*id as u32, label.clone()));
        if !advanced {
            continue;
        }
        let audience = *id as u32;
        let of = |kind: ListKind| -> Vec<IpNet> {
            inputs
                .entries
                .iter()
                .filter(|(a, k, _)| a == id && *k == kind)
                .map(|(_, _, n)| *n)
                .collect()
        };
        let allow = of(ListKind::Allow);
        let deny = of(ListKind::Deny);
        for (lookup_label, nets) in [(ALLOW_LABEL, &allow), (DENY_LABEL, &deny)] {
            out.lists.push(ListSpec {
                name: account_list_name(label, lookup_label),
                audience,
                capacity: None,
                nets: nets.clone(),
                source: format!("account {lookup_label} list"),
            });
        }
        for (acct, lookup_label, feeds) in &inputs.lookups {
            if acct != id || lookup_label_problem(lookup_label).is_some() {
                continue;
            }
            let mut nets: Vec<IpNet> = deny.clone();
            for f in feeds {
                if let Some(e) = feed(f) {
                    nets.extend_from_slice(e);
                }
            }
            out.lists.push(ListSpec {
                name: account_list_name(label, lookup_label),
                audience,
                capacity: None,
                nets: subtract(&nets, &allow, expand_v4, expand_v6),
                source: format!("feeds: {} + deny - allow", feeds.join(", ")),
            });
        }
    }
    out
}

/// `nets` minus `remove`, as prefixes. Prefixes at least as long as the
/// expansion limits (published as host records) stay at least that long,
/// so removing never merges two of them into one wider prefix that would
/// no longer be expanded; wider prefixes come out as the fewest prefixes
/// covering what is left.
pub fn subtract(nets: &[IpNet], remove: &[IpNet], expand_v4: u8, expand_v6: u8) -> Vec<IpNet> {
    let mut out = Vec::new();
    for narrow in [true, false] {
        let part: Vec<IpNet> = nets
            .iter()
            .copied()
            .filter(|n| {
                let is_narrow = match n {
                    IpNet::V4(n) => n.prefix_len() >= expand_v4,
                    IpNet::V6(n) => n.prefix_len() >= expand_v6,
                };
                is_narrow == narrow
            })
            .collect();
        let v4: Vec<(u128, u128)> = ranges(&part, true);
        let v6: Vec<(u128, u128)> = ranges(&part, false);
        let r4 = ranges(remove, true);
        let r6 = ranges(remove, false);
        for (start, end) in minus(&v4, &r4) {
            let cap = narrow.then_some(expand_v4);
            out.extend(to_prefixes(start, end, 32, cap).into_iter().map(|(a, l)| {
                IpNet::V4(Ipv4Net::new((a as u32).into(), l).expect("valid prefix"))
            }));
        }
        for (start, end) in minus(&v6, &r6) {
            let cap = narrow.then_some(expand_v6);
            out.extend(
                to_prefixes(start, end, 128, cap)
                    .into_iter()
                    .map(|(a, l)| IpNet::V6(Ipv6Net::new(a.into(), l).expect("valid prefix"))),
            );
        }
    }
    out
}

/// Sorted, merged inclusive ranges of one family.
fn ranges(nets: &[IpNet], v4: bool) -> Vec<(u128, u128)> {
    let mut r: Vec<(u128, u128)> = nets
        .iter()
        .filter_map(|n| match (n, v4) {
            (IpNet::V4(n), true) => Some((
                u32::from(n.network()) as u128,
                u32::from(n.broadcast()) as u128,
            )),
            (IpNet::V6(n), false) => Some((u128::from(n.network()), u128::from(n.broadcast()))),
            _ => None,
        })
        .collect();
    r.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(r.len());
    for (s, e) in r {
        match merged.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Sorted merged ranges `a` minus sorted merged ranges `b`.
fn minus(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = s;
        while j < b.len() && b[j].1 < cur {
            j += 1;
        }
        let mut k = j;
        let mut done = false;
        while k < b.len() && b[k].0 <= e {
            if b[k].0 > cur {
                out.push((cur, b[k].0 - 1));
            }
            if b[k].1 >= e {
                done = true;
                break;
            }
            cur = b[k].1 + 1;
            k += 1;
        }
        if !done && cur <= e {
            out.push((cur, e));
        }
    }
    out
}

/// The fewest prefixes covering `start..=end` in a `bits`-wide space, none
/// shorter than `min_len` when given.
fn to_prefixes(mut start: u128, end: u128, bits: u8, min_len: Option<u8>) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        // Largest block aligned at `start` that fits before `end`.
        let mut size_log = if start == 0 {
            bits as u32
        } else {
            start.trailing_zeros().min(bits as u32)
        };
        if let Some(m) = min_len {
            size_log = size_log.min((bits - m) as u32);
        }
        while size_log > 0 {
            let last = start.checked_add((1u128 << size_log) - 1);
            match last {
                Some(l) if l <= end => break,
                _ => size_log -= 1,
            }
        }
        out.push((start, bits - size_log as u8));
        let last = start + ((1u128 << size_log) - 1);
        if last >= end {
            break;
        }
        start = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strs(v: &[IpNet]) -> Vec<String> {
        let mut s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        s.sort();
        s
    }

    #[test]
    fn subtract_hosts_and_prefixes() {
        let got = subtract(
            &nets(&["192.0.2.0/30", "198.51.100.7/32"]),
            &nets(&["192.0.2.1/32"]),
            24,
            120,
        );
        assert_eq!(
            strs(&got),
            ["192.0.2.0/32", "192.0.2.2/31", "198.51.100.7/32"]
        );
        // Adjacent /24s stay /24s (still expanded into hosts).
        let got = subtract(&nets(&["10.0.0.0/24", "10.0.1.0/24"]), &[], 24, 120);
        assert_eq!(strs(&got), ["10.0.0.0/24", "10.0.1.0/24"]);
        // A wide prefix minus one host.
        let got = subtract(&nets(&["10.0.0.0/22"]), &nets(&["10.0.0.0/32"]), 24, 120);
        assert_eq!(got.len(), 10);
        let total: u64 = got.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        assert_eq!(total, 1023);
        // Everything removed.
        assert!(subtract(&nets(&["10.0.0.0/24"]), &nets(&["10.0.0.0/16"]), 24, 120).is_empty());
        // IPv6, and families never mix.
        let got = subtract(
            &nets(&["2001:db8::/127", "10.0.0.1/32"]),
            &nets(&["2001:db8::1/128"]),
            24,
            120,
        );
        assert_eq!(strs(&got), ["10.0.0.1/32", "2001:db8::/128"]);
        // Whole space edges.
        let got = subtract(&nets(&["0.0.0.0/0"]), &nets(&["0.0.0.0/1"]), 24, 120);
        assert_eq!(strs(&got), ["128.0.0.0/1"]);
        let got = subtract(&nets(&["::/0"]), &nets(&["::/1"]), 24, 120);
        assert_eq!(strs(&got), ["8000::/1"]);
    }

    #[test]
    fn labels() {
        assert!(lookup_label_problem("web-servers").is_none());
        assert!(lookup_label_problem("0").is_some());
        assert!(lookup_label_problem("deny").is_some());
        assert!(lookup_label_problem("Bad").is_some());
        assert!(lookup_label_problem("a.b").is_some());
        assert!(lookup_label_problem("-a").is_some());
        assert_eq!(account_list_name("k7m2", "deny"), "deny.k7m2.acct");
    }

    #[test]
    fn specs_only_for_advanced_accounts_and_custom_is_feeds_plus_deny_minus_allow() {
        let inputs = PublishInputs {
            accounts: vec![(1, "aaaa".into(), true), (2, "bbbb".into(), false)],
            devices: vec![
                (10, 1, "fw".into(), "127.0.0.3/32".parse().unwrap()),
                (11, 2, "fw".into(), "127.0.0.4/32".parse().unwrap()),
                (12, 2, "dup".into(), "127.0.0.1/32".parse().unwrap()),
            ],
            entries: vec![
                (1, ListKind::Deny, "203.0.113.9/32".parse().unwrap()),
                (1, ListKind::Allow, "192.0.2.1/32".parse().unwrap()),
            ],
            lookups: vec![(1, "mine".into(), vec!["f1".into(), "nope".into()])],
        };
        let f1 = nets(&["192.0.2.1/32", "192.0.2.2/32"]);
        let feed = |id: &str| if id == "f1" { Some(&f1[..]) } else { None };
        let s = account_specs(&inputs, &feed, &nets(&["127.0.0.1/32"]), 24, 120);
        assert_eq!(s.devices.len(), 2, "reserved prefix left out");
        assert_eq!(s.accounts.len(), 2);
        let names: Vec<&str> = s.lists.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["allow.aaaa.acct", "deny.aaaa.acct", "mine.aaaa.acct"]
        );
        assert!(s.lists.iter().all(|l| l.audience == 1));
        assert_eq!(strs(&s.lists[2].nets), ["192.0.2.2/32", "203.0.113.9/32"]);
    }
}
