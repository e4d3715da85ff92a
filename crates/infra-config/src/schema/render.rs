//! `.env.example` and `docs/configuration.md`, rendered from [`super::KEYS`].
//!
//! Both files are checked in; the `generated_files` test of this crate
//! compares them with these renderings, and `cargo xtask codegen` (which runs
//! that test with `INFRA_CODEGEN=overwrite`) rewrites them.

use std::fmt::Write as _;

use super::{KEYS, Key, Kind, SECTIONS, Section, Sensitivity};
use crate::loader::DEFAULT_PREFIX;

/// Width of the comment lines of `.env.example`.
const WIDTH: usize = 78;

/// The source of both files, named in their headers.
const SOURCE: &str = "crates/infra-config/src/schema/mod.rs";

/// The rules that hold for every key, shared by both files.
const GENERAL: &[&str] = &[
    "Precedence, lowest first: built-in defaults < TOML file (SOCIAL_CONFIG_FILE) < .env < \
     real environment (.env never overrides a variable that is already set).",
    "Keys: SOCIAL_<SECTION>__<KEY>, with two underscores between nesting levels; names \
     ignore case. Every variable with the prefix belongs to this configuration: an unknown \
     section (e.g. a typo like SOCIAL_REDSI__URL) or an unknown key inside a section \
     (SOCIAL_REDIS__PASWORD) is refused.",
    "Durations need a unit: 250ms, 2s, 1m (a bare number is refused); every duration must \
     be more than 0 and at most 1h. Booleans: true/false (also yes/no, on/off, 1/0). An \
     empty value (KEY=) counts as not set.",
    "Every refused key is reported at load, one line each, naming the key, what is wrong \
     and what is accepted; secrets are never quoted.",
];

/// Renders `.env.example`: every key, commented out, with its default (or an
/// example when it has none) and what it accepts.
pub fn render_env_example() -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "Configuration of services built on this workspace (crate infra-config).",
    );
    out.push_str("#\n");
    comment(
        &mut out,
        &format!(
            "Generated from the key table in {SOURCE} by `cargo xtask codegen`: edit the \
             table, not this file. docs/configuration.md has the same keys as a table."
        ),
    );
    out.push_str("#\n");
    comment(
        &mut out,
        "Copy to `.env` and uncomment what you change. Every key is shown with its default \
         (or, when it has none, an example value), so an untouched copy changes nothing.",
    );
    for rule in GENERAL {
        out.push_str("#\n");
        comment(&mut out, rule);
    }
    out.push_str("#\n");
    comment(
        &mut out,
        "Never commit real secrets: keep passwords and API keys in the real environment or a \
         secret store; the placeholders below stay commented out.",
    );
    out.push('\n');
    comment(
        &mut out,
        "Optional TOML file with the same keys in sections ([redis], [redis.pool], ...).",
    );
    let _ = writeln!(out, "# {DEFAULT_PREFIX}CONFIG_FILE=config.toml");
    out.push('\n');
    banner(
        &mut out,
        "Real servers from `docker compose up -d` (docker-compose.yml): uncomment these to \
         use them instead of the defaults.",
    );
    for (path, value) in [
        ("redis.url", "redis://127.0.0.1:6379/0"),
        ("qdrant.mode", "remote"),
        ("qdrant.url", "http://127.0.0.1:6334"),
    ] {
        let _ = writeln!(out, "# {}={value}", super::env_key(DEFAULT_PREFIX, path));
    }
    for section in SECTIONS {
        out.push('\n');
        banner(&mut out, section.title);
        comment(&mut out, section.doc);
        for key in keys_of(section) {
            out.push('\n');
            comment(&mut out, &env_comment(key));
            let value = key
                .default
                .render()
                .or_else(|| key.example.map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(out, "# {}={value}", key.env_name(DEFAULT_PREFIX));
        }
    }
    out
}

/// Renders `docs/configuration.md`: the general rules, then one table per
/// section with every key's environment name, type, default, accepted values,
/// secrecy and description.
pub fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Configuration\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the key table in {SOURCE} by `cargo xtask codegen`; \
         do not edit by hand. -->\n"
    );
    out.push_str(
        "Services built on this workspace read their settings with infra-config \
         (`Settings::from_env()` or `SettingsLoader`). Every key is declared once, in the \
         key table of the crate; this page, [`.env.example`](../.env.example), the defaults, \
         the validation bounds and the error lines all come from that table.\n\n",
    );
    for rule in GENERAL {
        let _ = writeln!(out, "- {}", markdown_text(rule));
    }
    let _ = writeln!(
        out,
        "- `{DEFAULT_PREFIX}` is the default prefix; `SettingsLoader::prefix` changes it \
         (the keys below then start with that prefix instead)."
    );
    let _ = writeln!(
        out,
        "- `{DEFAULT_PREFIX}CONFIG_FILE` names an optional TOML file with the same keys in \
         sections (`[redis]`, `[redis.pool]`, ...)."
    );
    out.push_str(
        "- Secret: `yes` values are redacted in `Debug`, `Serialize` (and so in \
         `infra-server config`) and never quoted in errors; `masked` values are URLs that \
         may carry credentials: shown with their password masked, never quoted in errors.\n",
    );
    for section in SECTIONS {
        let _ = write!(
            out,
            "\n## {} (`{}*`)\n\n{}\n\n",
            section.title,
            super::env_key(DEFAULT_PREFIX, &format!("{}.", section.name)),
            section.doc
        );
        out.push_str(
            "| Environment key | Type | Default | Accepted values | Secret | Description |\n",
        );
        out.push_str("|---|---|---|---|---|---|\n");
        for key in keys_of(section) {
            let default = key
                .default
                .render()
                .map_or_else(|| "unset".to_owned(), |text| format!("`{text}`"));
            let mut description = key.doc.to_owned();
            if !key.note.is_empty() {
                description.push(' ');
                description.push_str(key.note);
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                key.env_name(DEFAULT_PREFIX),
                type_name(key.kind),
                cell(&default),
                cell(&key.accepted()),
                secrecy(key.sensitivity),
                cell(&description),
            );
        }
    }
    out
}

fn keys_of(section: &Section) -> impl Iterator<Item = &'static Key> {
    KEYS.iter().filter(move |key| key.section() == section.name)
}

/// The comment above a key in `.env.example`.
fn env_comment(key: &Key) -> String {
    let mut text = key.doc.to_owned();
    if !key.note.is_empty() {
        text.push(' ');
        text.push_str(key.note);
    }
    // Durations and booleans follow the rules in the header.
    if !matches!(key.kind, Kind::Duration | Kind::Boolean) {
        let _ = write!(text, " Accepts {}.", key.accepted());
    }
    if key.default.render().is_none() {
        text.push_str(" Unset by default.");
    }
    match key.sensitivity {
        Sensitivity::Secret => text.push_str(
            " Secret: set it in the real environment or a secret store, not in a committed file.",
        ),
        Sensitivity::Credentials => {
            text.push_str(" May carry credentials: never commit a URL with a password.");
        }
        Sensitivity::Public => {}
    }
    text
}

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Boolean => "boolean",
        Kind::Integer { .. } => "integer",
        Kind::Duration => "duration",
        Kind::Text => "string",
        Kind::Url => "URL",
        Kind::Path => "path",
        Kind::Choice(_) => "choice",
        Kind::List => "list",
    }
}

fn secrecy(sensitivity: Sensitivity) -> &'static str {
    match sensitivity {
        Sensitivity::Public => "no",
        Sensitivity::Secret => "yes",
        Sensitivity::Credentials => "masked",
    }
}

/// Text for a Markdown table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Plain text for Markdown: `SOCIAL_...` names and `.env` in code spans.
fn markdown_text(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let trimmed = word.trim_end_matches([',', '.', ')', ';', ':']);
            let tail = &word[trimmed.len()..];
            let (open, trimmed) = trimmed
                .strip_prefix('(')
                .map_or(("", trimmed), |rest| ("(", rest));
            if trimmed.starts_with("SOCIAL_") || trimmed == ".env" || trimmed == "KEY=" {
                format!("{open}`{trimmed}`{tail}")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `text` as `# `-comment lines of at most [`WIDTH`] characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// A section banner: a rule, the title, a rule.
fn banner(out: &mut String, title: &str) {
    let rule = format!("# {}\n", "-".repeat(WIDTH - 2));
    out.push_str(&rule);
    comment(out, title);
    out.push_str(&rule);
}
