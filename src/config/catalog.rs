//! The default feed catalog: real public feeds with their URLs, formats,
//! attribution and update periods, disabled until an operator enables them
//! on a machine with internet access. Periods are the providers' own
//! published or observed regeneration intervals; feedwall fetches each feed
//! at half its period (never more often than every 5 minutes).

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct CatalogFeed {
    pub id: &'static str,
    pub name: &'static str,
    pub url: &'static str,
    pub format: &'static str,
    pub period_secs: u64,
    pub provider: &'static str,
    pub homepage: &'static str,
    pub category: &'static str,
}

const H: u64 = 3600;

/// Real public feeds.
pub const CATALOG: &[CatalogFeed] = &[
    CatalogFeed {
        id: "dshield-block",
        name: "DShield recommended block list (top 20 attacking /24s)",
        url: "https://feeds.dshield.org/block.txt",
        format: "dshield_block",
        period_secs: H,
        provider: "SANS Internet Storm Center / DShield",
        homepage: "https://isc.sans.edu/",
        category: "attackers",
    },
    CatalogFeed {
        id: "spamhaus-drop",
        name: "Spamhaus DROP (Don't Route Or Peer), IPv4",
        url: "https://www.spamhaus.org/drop/drop_v4.json",
        format: "spamhaus_drop_json",
        period_secs: 24 * H,
        provider: "The Spamhaus Project",
        homepage: "https://www.spamhaus.org/blocklists/do-not-route-or-peer/",
        category: "hijacked",
    },
    CatalogFeed {
        id: "spamhaus-drop-v6",
        name: "Spamhaus DROP (Don't Route Or Peer), IPv6",
        url: "https://www.spamhaus.org/drop/drop_v6.json",
        format: "spamhaus_drop_json",
        period_secs: 24 * H,
        provider: "The Spamhaus Project",
        homepage: "https://www.spamhaus.org/blocklists/do-not-route-or-peer/",
        category: "hijacked",
    },
    CatalogFeed {
        id: "spamhaus-edrop",
        name: "Spamhaus EDROP (legacy text list)",
        url: "https://www.spamhaus.org/drop/edrop.txt",
        format: "spamhaus_drop_txt",
        period_secs: 24 * H,
        provider: "The Spamhaus Project",
        homepage: "https://www.spamhaus.org/blocklists/do-not-route-or-peer/",
        category: "hijacked",
    },
    CatalogFeed {
        id: "feodo",
        name: "abuse.ch Feodo Tracker botnet C2 IP block list",
        url: "https://feodotracker.abuse.ch/downloads/ipblocklist.txt",
        format: "feodo",
        period_secs: 5 * 60,
        provider: "abuse.ch",
        homepage: "https://feodotracker.abuse.ch/blocklist/",
        category: "botnet-cc",
    },
    CatalogFeed {
        id: "et-compromised",
        name: "Emerging Threats compromised IPs",
        url: "https://rules.emergingthreats.net/blockrules/compromised-ips.txt",
        format: "plain",
        period_secs: 24 * H,
        provider: "Proofpoint Emerging Threats",
        homepage: "https://rules.emergingthreats.net/",
        category: "compromised",
    },
    CatalogFeed {
        id: "blocklist-de",
        name: "blocklist.de all attackers (last 48 h)",
        url: "https://lists.blocklist.de/lists/all.txt",
        format: "plain",
        period_secs: H,
        provider: "blocklist.de",
        homepage: "https://www.blocklist.de/",
        category: "attackers",
    },
    CatalogFeed {
        id: "cins",
        name: "CINS Army list",
        url: "https://cinsscore.com/list/ci-badguys.txt",
        format: "plain",
        period_secs: H,
        provider: "Collective Intelligence Network Security (Sentinel IPS)",
        homepage: "https://cinsscore.com/",
        category: "attackers",
    },
    CatalogFeed {
        id: "tor-exits",
        name: "Tor bulk exit list",
        url: "https://check.torproject.org/torbulkexitlist",
        format: "tor_exit",
        period_secs: H,
        provider: "The Tor Project",
        homepage: "https://check.torproject.org/",
        category: "tor-exits",
    },
    CatalogFeed {
        id: "firehol-level1",
        name: "FireHOL level 1",
        url: "https://raw.githubusercontent.com/firehol/blocklist-ipsets/master/firehol_level1.netset",
        format: "firehol_netset",
        period_secs: H,
        provider: "FireHOL (iplists.firehol.org)",
        homepage: "https://iplists.firehol.org/",
        category: "attackers",
    },
    CatalogFeed {
        id: "phishtank",
        name: "PhishTank online, valid phishing sites (hosting addresses)",
        url: "http://data.phishtank.com/data/online-valid.json",
        format: "phishtank",
        period_secs: H,
        provider: "PhishTank (Cisco Talos)",
        homepage: "https://www.phishtank.com/developer_info.php",
        category: "phishing",
    },
];
