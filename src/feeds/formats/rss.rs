//! RSS 2.0, RSS 1.0 (RDF) and Atom feeds of advisories: the entries are the
//! addresses and networks mentioned in each item's `<title>` and
//! `<description>` (Atom: `<title>`, `<summary>`, `<content>`), after XML,
//! CDATA and entity decoding (see `prose` for what counts as a mention).
//! Links, guids and channel-level text are not scanned.
//!
//! An item that mentions no address is ignored; an item mentioning one
//! address twice yields it once. RSS has no malformed records, but a
//! document that stops being XML is: the item being read is rejected and
//! reading stops. Locations are 0-based item indexes. `pubDate` /
//! `published` → first seen, `guid` / `id` → reference, the first
//! `category` → category.
//!
//! XML is read with quick-xml (no DTDs, no external entities: an undeclared
//! entity such as `&nbsp;` reads as a space).

use ipnet::IpNet;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::feeds::detect::Head;
use crate::feeds::lines;
use crate::feeds::parsed::{Builder, Detail, Location, Parsed};
use crate::feeds::prose::addresses_in;
use crate::feeds::time::parse_time;
use crate::feeds::FormatOptions;

/// The item children we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Scanned for addresses.
    Text,
    Date,
    Reference,
    Category,
}

fn field_of(local: &[u8]) -> Option<Field> {
    Some(match local {
        b"title" | b"description" | b"summary" | b"content" => Field::Text,
        b"pubDate" | b"published" | b"date" => Field::Date,
        b"guid" | b"id" => Field::Reference,
        b"category" => Field::Category,
        _ => return None,
    })
}

/// The item being read.
#[derive(Default)]
struct Item {
    text: String,
    date: String,
    reference: String,
    category: String,
}

impl Item {
    fn buffer(&mut self, f: Field) -> &mut String {
        match f {
            Field::Text => &mut self.text,
            Field::Date => &mut self.date,
            Field::Reference => &mut self.reference,
            Field::Category => &mut self.category,
        }
    }
}

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let mut reader = Reader::from_reader(lines::strip_bom(input));
    let mut b = Builder::default();
    let mut index = 0usize;
    let mut item: Option<Item> = None;
    // The field being read, and how deep inside it (markup in Atom XHTML
    // content nests elements).
    let mut field: Option<(Field, usize)> = None;
    // Depth inside an item's children that are not read (`<author><name>`).
    let mut nested = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(_) => {
                b.reject(Location::Item(index), "malformed XML");
                break;
            }
        };
        match event {
            Event::Start(e) => {
                let local = e.local_name();
                match (&mut item, &mut field) {
                    (_, Some((_, depth))) => *depth += 1,
                    (None, None) => {
                        if matches!(local.as_ref(), b"item" | b"entry") {
                            item = Some(Item::default());
                            nested = 0;
                        }
                    }
                    (Some(it), None) => match field_of(local.as_ref()) {
                        // Only the item's own children; the first category.
                        Some(f)
                            if nested == 0
                                && (f != Field::Category || it.category.trim().is_empty()) =>
                        {
                            // Several texts of one item are kept apart.
                            it.buffer(f).push('\n');
                            field = Some((f, 0));
                        }
                        _ => nested += 1,
                    },
                }
            }
            Event::Empty(e) => {
                // Atom: <category term="..."/>.
                if let (Some(it), None) = (&mut item, &field) {
                    if nested == 0
                        && e.local_name().as_ref() == b"category"
                        && it.category.trim().is_empty()
                    {
                        if let Ok(Some(term)) = e.try_get_attribute("term") {
                            it.category = String::from_utf8_lossy(&term.value).into_owned();
                        }
                    }
                }
            }
            Event::End(_) => match (&mut field, &mut item) {
                (Some((_, depth)), _) if *depth > 0 => *depth -= 1,
                (Some(_), _) => field = None,
                (None, Some(_)) if nested > 0 => nested -= 1,
                (None, Some(_)) => {
                    if let Some(it) = item.take() {
                        finish_item(&mut b, index, it);
                        index += 1;
                    }
                }
                (None, None) => {}
            },
            Event::Text(t) => {
                if let (Some(it), Some((f, _))) = (&mut item, field) {
                    match t.xml10_content() {
                        Ok(s) => it.buffer(f).push_str(&s),
                        Err(_) => it.buffer(f).push_str(&String::from_utf8_lossy(&t)),
                    }
                }
            }
            Event::CData(c) => {
                if let (Some(it), Some((f, _))) = (&mut item, field) {
                    it.buffer(f).push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(it), Some((f, _))) = (&mut item, field) {
                    let name = String::from_utf8_lossy(&r);
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => it.buffer(f).push(c),
                        _ => it
                            .buffer(f)
                            .push_str(quick_xml::escape::resolve_xml_entity(&name).unwrap_or(" ")),
                    }
                }
            }
            Event::Eof => {
                if item.is_some() {
                    b.reject(Location::Item(index), "document ends inside an item");
                }
                break;
            }
            _ => {}
        }
    }
    b.finish()
}

fn finish_item(b: &mut Builder, index: usize, it: Item) {
    let mut nets: Vec<IpNet> = Vec::new();
    addresses_in(&it.text, |n| nets.push(n));
    if nets.is_empty() {
        b.ignore(Location::Item(index), "item mentions no IP address");
        return;
    }
    nets.sort_unstable();
    nets.dedup();
    let text = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(Box::from);
    let detail = Detail {
        first_seen: parse_time(it.date.trim()),
        reference: text(&it.reference),
        category: text(&it.category),
        ..Detail::default()
    }
    .boxed_if_any();
    for net in nets {
        b.entry(net, detail.clone());
    }
    b.record();
}

pub fn sniff(head: &Head) -> u8 {
    if head.first != Some(b'<') {
        return 0;
    }
    if head.contains_ci("<rss") || head.contains_ci("<feed") || head.contains_ci("<rdf:rdf") {
        95
    } else {
        0
    }
}
