//! The one way a setting is read: named once (a [`Setting`] from the catalogue), its default text
//! parsed by the same parser as a configured value, and an error that names the setting and says
//! what a valid value looks like.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use thiserror::Error;

/// One setting the handler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The app setting (environment variable) name.
    pub name: &'static str,
    /// What applies when it is unset.
    pub default: SettingDefault,
    /// What it does, in a few words.
    pub about: &'static str,
}

/// What applies when a setting is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingDefault {
    /// This text, parsed like a configured value.
    Value(&'static str),
    /// Nothing: the feature it configures is off or derived from other settings.
    Unset,
    /// Start-up fails without it.
    Required,
}

/// A setting is missing or has a value the handler cannot use. Names the setting.
#[derive(Debug, Error, PartialEq)]
pub enum SettingsError {
    /// A required setting is absent.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// Setting name.
        name: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A setting has an unusable value.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// Setting name.
        name: &'static str,
        /// The value found (or `(hidden)` for secrets).
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
}

/// Reads settings through a lookup (the environment, or a map in tests). Values are trimmed and an
/// empty value counts as unset.
pub struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Reader<'a> {
    /// A reader over `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The configured text, if any (the default is not applied).
    pub fn text(&self, setting: &Setting) -> Option<String> {
        (self.lookup)(setting.name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The configured value parsed by `parse`, else the default text parsed the same way; `None`
    /// when unset without a default. `expected` says what a valid value looks like.
    pub fn parse<T>(
        &self,
        setting: &Setting,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, SettingsError> {
        let text = match (self.text(setting), setting.default) {
            (Some(v), _) => v,
            (None, SettingDefault::Value(d)) => d.to_owned(),
            (None, SettingDefault::Unset | SettingDefault::Required) => return Ok(None),
        };
        parse(&text)
            .map(Some)
            .ok_or_else(|| SettingsError::Invalid {
                name: setting.name,
                value: text,
                reason: format!("expected {expected}"),
            })
    }

    /// A setting that has a default (or is required): its value.
    pub fn value<T>(
        &self,
        setting: &Setting,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, SettingsError> {
        required(setting, self.parse(setting, expected, parse)?)
    }

    /// A number in `range`; `unit` names what it counts (`milliseconds`).
    pub fn number<T>(
        &self,
        setting: &Setting,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, SettingsError>
    where
        T: FromStr + PartialOrd + Display,
    {
        required(setting, self.number_or_unset(setting, range, unit)?)
    }

    /// A number in `range`, or `None` when unset without a default.
    pub fn number_or_unset<T>(
        &self,
        setting: &Setting,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> Result<Option<T>, SettingsError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let expected = format!("{unit} between {} and {}", range.start(), range.end());
        self.parse(setting, &expected, |v| {
            v.parse::<T>().ok().filter(|n| range.contains(n))
        })
    }

    /// One of `choices` (matched without regard to case).
    pub fn choice<T: Copy>(
        &self,
        setting: &Setting,
        choices: &[(&str, T)],
    ) -> Result<T, SettingsError> {
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        let expected = format!("one of {}", names.join(", "));
        self.value(setting, &expected, |v| {
            choices
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(v))
                .map(|(_, value)| *value)
        })
    }
}

/// `value`, or the error that `setting` is missing (naming it, with what it is for).
fn required<T>(setting: &Setting, value: Option<T>) -> Result<T, SettingsError> {
    value.ok_or(SettingsError::Missing {
        name: setting.name,
        hint: setting.about,
    })
}
