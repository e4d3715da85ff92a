//! A tiny command-line parser: `--flag`, `--name VALUE` and `--name=VALUE`, std only.
//!
//! xtask takes a handful of options, so a table of [`Opt`]s and one loop replace a
//! parsing crate (which would add build time to every `cargo xtask` and a dependency to
//! a crate that has none).

use crate::Result;

/// One accepted option.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Opt {
    /// `--name`, a switch without a value.
    Flag(&'static str),
    /// `--name VALUE` or `--name=VALUE`; the value must not be blank. `placeholder` names
    /// the value in messages (`URL`).
    Value {
        name: &'static str,
        placeholder: &'static str,
    },
}

impl Opt {
    fn name(self) -> &'static str {
        match self {
            Opt::Flag(name) | Opt::Value { name, .. } => name,
        }
    }

    fn usage(self) -> String {
        match self {
            Opt::Flag(name) => name.to_owned(),
            Opt::Value { name, placeholder } => format!("{name} {placeholder}"),
        }
    }
}

/// What was given on the command line, in order: `(option name, value)`, with `None`
/// for flags.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed(Vec<(&'static str, Option<String>)>);

impl Parsed {
    /// Whether the flag `name` was given.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    /// The last value given for `name`.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    }
}

/// Parses `args` against `accepted`; `command` prefixes every error message
/// (`bench: unknown argument ...`).
pub(crate) fn parse(command: &str, accepted: &[Opt], args: &[String]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let opt = accepted
            .iter()
            .copied()
            .find(|opt| opt.name() == name && !(matches!(opt, Opt::Flag(_)) && inline.is_some()));
        let Some(opt) = opt else {
            let list: Vec<String> = accepted.iter().map(|o| o.usage()).collect();
            return Err(format!(
                "{command}: unknown argument `{name}` (accepted: {})",
                list.join(", ")
            ));
        };
        match opt {
            Opt::Flag(name) => parsed.0.push((name, None)),
            Opt::Value { name, placeholder } => {
                let value = match inline {
                    Some(value) => value,
                    None => args
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{command}: {name} needs a {placeholder}"))?,
                };
                if value.trim().is_empty() {
                    return Err(format!("{command}: {name} needs a non-empty {placeholder}"));
                }
                parsed.0.push((name, Some(value)));
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&a| a.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt::Flag("--quick"),
        Opt::Value {
            name: "--url",
            placeholder: "URL",
        },
    ];

    #[test]
    fn flags_and_values_in_both_spellings() {
        let parsed = parse("x", OPTS, &strings(&["--url", "a", "--quick", "--url=b"])).unwrap();
        assert!(parsed.flag("--quick"));
        assert_eq!(parsed.value("--url").as_deref(), Some("b"));
        assert_eq!(parse("x", OPTS, &[]).unwrap(), Parsed::default());
    }

    #[test]
    fn errors_name_the_command_and_what_is_accepted() {
        assert_eq!(
            parse("x", OPTS, &strings(&["--slow"])).unwrap_err(),
            "x: unknown argument `--slow` (accepted: --quick, --url URL)"
        );
        assert_eq!(
            parse("x", OPTS, &strings(&["--quick=1"])).unwrap_err(),
            "x: unknown argument `--quick` (accepted: --quick, --url URL)"
        );
        assert_eq!(
            parse("x", OPTS, &strings(&["--url"])).unwrap_err(),
            "x: --url needs a URL"
        );
        assert_eq!(
            parse("x", OPTS, &strings(&["--url= "])).unwrap_err(),
            "x: --url needs a non-empty URL"
        );
    }
}
