//! The feed formats. Every format is one file exposing the same two
//! functions:
//!
//! ```text
//! pub fn parse(input: &[u8], opts: &FormatOptions) -> Parsed
//! pub fn sniff(head: &Head) -> u8   // 0 = not this format .. 100 = certain
//! ```
//!
//! Adding a format is adding a file, a [`Format`] variant and a row in
//! [`FORMATS`]; `Format::Auto` asks every `sniff` and takes the highest
//! score.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::detect::Head;
use super::parsed::Parsed;

pub mod dshield_block;
pub mod feodo;
pub mod firehol_netset;
pub mod generic_csv;
pub mod generic_json;
pub mod ip_range;
pub mod phishtank;
pub mod plain;
pub mod rss;
pub mod spamhaus_drop_json;
pub mod spamhaus_drop_txt;
pub mod stix21;
pub mod tor_exit;

/// A feed format, or `Auto` to guess it from the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Auto,
    Plain,
    IpRange,
    DshieldBlock,
    SpamhausDropTxt,
    SpamhausDropJson,
    Feodo,
    Phishtank,
    FireholNetset,
    TorExit,
    GenericCsv,
    GenericJson,
    Rss,
    Stix21,
}

/// Options some formats take; every other format ignores them. Deserialises
/// from a feed's config table (`column = "ip"` or `column = 0`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormatOptions {
    /// `generic_csv`: the column holding the address, by header name (any
    /// case) or 0-based index. Default: the first column whose header is a
    /// usual address name (`ip`, `ip_address`, `cidr`, ...), else column 0.
    pub column: Option<Column>,
    /// `generic_json`: the member holding the address, a dotted path
    /// (`ip`, `source.address`). Default: the first usual address name.
    pub field: Option<String>,
    /// `generic_csv`: field delimiter. Default: guessed from the first row
    /// among `,` `;` tab `|`.
    pub delimiter: Option<char>,
    /// `generic_csv`: whether the first row is a header. Default: guessed
    /// (a header row's address cell is not an address).
    pub header: Option<bool>,
}

/// A CSV column, by header name or 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

impl FromStr for Column {
    type Err = std::convert::Infallible;

    /// All digits is an index, anything else a header name.
    fn from_str(s: &str) -> Result<Column, Self::Err> {
        let s = s.trim();
        Ok(match s.parse::<usize>() {
            Ok(i) => Column::Index(i),
            Err(_) => Column::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Index(i) => write!(f, "{i}"),
            Column::Name(n) => f.write_str(n),
        }
    }
}

/// The shape every format's parser has.
pub type ParseFn = fn(&[u8], &FormatOptions) -> Parsed;
/// The shape every format's detector has.
pub type SniffFn = fn(&Head) -> u8;

/// One row of the format table.
pub struct FormatSpec {
    pub format: Format,
    /// Canonical name (`--format NAME`, config files).
    pub name: &'static str,
    /// Other accepted names (the fixture directories of feeds that are
    /// instances of a format, e.g. `cins` for `plain`).
    pub aliases: &'static [&'static str],
    /// One line for help texts.
    pub about: &'static str,
    pub parse: ParseFn,
    pub sniff: SniffFn,
}

/// Every concrete format, in the order `Auto` breaks ties.
pub static FORMATS: &[FormatSpec] = &[
    FormatSpec {
        format: Format::Stix21,
        name: "stix21",
        aliases: &["stix"],
        about: "STIX 2.1 bundle: ipv4-addr/ipv6-addr values of indicator patterns",
        parse: stix21::parse,
        sniff: stix21::sniff,
    },
    FormatSpec {
        format: Format::Rss,
        name: "rss",
        aliases: &["atom"],
        about: "RSS 2.0/Atom: addresses in item titles and descriptions",
        parse: rss::parse,
        sniff: rss::sniff,
    },
    FormatSpec {
        format: Format::Phishtank,
        name: "phishtank",
        aliases: &[],
        about: "PhishTank dump: JSON details[].ip_address, or CSV IP-literal URL hosts",
        parse: phishtank::parse,
        sniff: phishtank::sniff,
    },
    FormatSpec {
        format: Format::SpamhausDropJson,
        name: "spamhaus_drop_json",
        aliases: &[],
        about: "Spamhaus DROP/EDROP JSON lines ({\"cidr\":..,\"sblid\":..})",
        parse: spamhaus_drop_json::parse,
        sniff: spamhaus_drop_json::sniff,
    },
    FormatSpec {
        format: Format::Feodo,
        name: "feodo",
        aliases: &["abuse_ch", "feodotracker"],
        about: "abuse.ch Feodo Tracker IP block list (txt, csv or json)",
        parse: feodo::parse,
        sniff: feodo::sniff,
    },
    FormatSpec {
        format: Format::GenericJson,
        name: "generic_json",
        aliases: &["json"],
        about: "JSON array / JSON lines with the address in a configured field",
        parse: generic_json::parse,
        sniff: generic_json::sniff,
    },
    FormatSpec {
        format: Format::DshieldBlock,
        name: "dshield_block",
        aliases: &["dshield"],
        about: "DShield block.txt (Start, End, Netblock, Attacks, Name, Country, email)",
        parse: dshield_block::parse,
        sniff: dshield_block::sniff,
    },
    FormatSpec {
        format: Format::SpamhausDropTxt,
        name: "spamhaus_drop_txt",
        aliases: &["spamhaus_drop", "spamhaus_edrop"],
        about: "Spamhaus DROP/EDROP text (CIDR ; SBLnnnnnn)",
        parse: spamhaus_drop_txt::parse,
        sniff: spamhaus_drop_txt::sniff,
    },
    FormatSpec {
        format: Format::TorExit,
        name: "tor_exit",
        aliases: &["tor"],
        about: "Tor exit list (torbulkexitlist, or exit-addresses records)",
        parse: tor_exit::parse,
        sniff: tor_exit::sniff,
    },
    FormatSpec {
        format: Format::FireholNetset,
        name: "firehol_netset",
        aliases: &["netset", "ipset"],
        about: "FireHOL .netset/.ipset: one IP or CIDR per line, # header",
        parse: firehol_netset::parse,
        sniff: firehol_netset::sniff,
    },
    FormatSpec {
        format: Format::IpRange,
        name: "ip_range",
        aliases: &["range", "ranges"],
        about: "ranges a.b.c.d-e.f.g.h (IPv6 too), plus single IPs and CIDRs",
        parse: ip_range::parse,
        sniff: ip_range::sniff,
    },
    FormatSpec {
        format: Format::GenericCsv,
        name: "generic_csv",
        aliases: &["csv"],
        about: "CSV with the address in a configured column (header name or index)",
        parse: generic_csv::parse,
        sniff: generic_csv::sniff,
    },
    FormatSpec {
        format: Format::Plain,
        name: "plain",
        aliases: &["blocklist_de", "cins", "emerging_threats", "txt"],
        about: "one IP or CIDR per line, # and ; comments",
        parse: plain::parse,
        sniff: plain::sniff,
    },
];

/// Names accepted by `--format`: `auto` and every canonical name.
pub const NAMES: &[&str] = &[
    "auto",
    "plain",
    "ip_range",
    "dshield_block",
    "spamhaus_drop_txt",
    "spamhaus_drop_json",
    "feodo",
    "phishtank",
    "firehol_netset",
    "tor_exit",
    "generic_csv",
    "generic_json",
    "rss",
    "stix21",
];

impl Format {
    /// The table row of a concrete format (`None` for `Auto`).
    pub fn spec(self) -> Option<&'static FormatSpec> {
        FORMATS.iter().find(|s| s.format == self)
    }

    pub fn name(self) -> &'static str {
        self.spec().map_or("auto", |s| s.name)
    }

    /// By canonical name or alias, any case, `-` for `_` allowed.
    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.trim().to_ascii_lowercase().replace('-', "_");
        if n == "auto" {
            return Some(Format::Auto);
        }
        FORMATS
            .iter()
            .find(|s| s.name == n || s.aliases.contains(&n.as_str()))
            .map(|s| s.format)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is none of [`NAMES`] (nor an alias).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feed format {0:?} (known: {known})", known = NAMES.join(", "))]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::from_name(s).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_list_every_format_once() {
        let mut table: Vec<&str> = FORMATS.iter().map(|s| s.name).collect();
        table.push("auto");
        table.sort_unstable();
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(table, names);
        for s in FORMATS {
            assert_eq!(Format::from_name(s.name), Some(s.format));
            assert_eq!(s.format.name(), s.name);
            for a in s.aliases {
                assert_eq!(Format::from_name(a), Some(s.format), "{a}");
            }
        }
    }

    #[test]
    fn names_are_forgiving_about_case_and_dashes() {
        assert_eq!("Generic-CSV".parse::<Format>(), Ok(Format::GenericCsv));
        assert_eq!("AUTO".parse::<Format>(), Ok(Format::Auto));
        let e = "nope".parse::<Format>().unwrap_err().to_string();
        assert!(
            e.contains("unknown feed format \"nope\"") && e.contains("stix21"),
            "{e}"
        );
    }

    #[test]
    fn columns_parse_as_index_or_name() {
        assert_eq!("2".parse::<Column>(), Ok(Column::Index(2)));
        assert_eq!("ip".parse::<Column>(), Ok(Column::Name("ip".into())));
    }
}
