//! The text of the enrolment QR code the operator hands a phone: the server address, the
//! one-time code and the certificate pins, so a scan gives the phone everything it needs to
//! enrol pinned.
//!
//! `fieldcase-enrol:<server-url>#<code>[#<pin>...]`, each pin `sha256/<base64>`; a text
//! without the `fieldcase-enrol:` prefix is a bare code (typed, or a QR code made without a
//! URL). `#` cannot occur in a URL given to the server (it would be a fragment), a code or a
//! pin, so the fields split unambiguously. The QR code is shown in person, so the pins in it
//! are as trustworthy as the code beside them.

use super::pinning::SpkiPin;
use crate::{CoreError, Result};

/// Prefix of an enrolment link.
pub const SCHEME: &str = "fieldcase-enrol:";

/// What an enrolment QR code holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolLink {
    /// The server's base URL; `None` for a bare code (the app asks for the address).
    pub server_url: Option<String>,
    /// The one-time code.
    pub code: String,
    /// Keys the server must present one of; empty for no pinning.
    pub pins: Vec<SpkiPin>,
}

impl EnrolLink {
    /// Parses a scanned or typed text. A malformed pin is [`CoreError::InvalidInput`] (field
    /// `pin`): a damaged link never enrols unpinned.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let Some(rest) = text.strip_prefix(SCHEME) else {
            if text.is_empty() || text.contains('#') {
                return Err(CoreError::invalid("enrol_link", "not a code or a link"));
            }
            return Ok(EnrolLink {
                server_url: None,
                code: text.to_string(),
                pins: Vec::new(),
            });
        };
        let mut parts = rest.split('#');
        let url = parts.next().unwrap_or_default();
        let code = parts.next().unwrap_or_default();
        if url.is_empty() || code.is_empty() {
            return Err(CoreError::invalid(
                "enrol_link",
                "expected fieldcase-enrol:<server-url>#<code>",
            ));
        }
        let pins = parts.map(SpkiPin::parse).collect::<Result<Vec<_>>>()?;
        Ok(EnrolLink {
            server_url: Some(url.to_string()),
            code: code.to_string(),
            pins,
        })
    }

    /// The text to put into a QR code: the link form with a URL, the bare code without.
    /// Pins need the URL (they pin that server).
    pub fn to_text(&self) -> Result<String> {
        match &self.server_url {
            None if self.pins.is_empty() => Ok(self.code.clone()),
            None => Err(CoreError::invalid(
                "server_url",
                "pins in an enrolment link need the server URL",
            )),
            Some(url) => {
                if url.contains('#') {
                    return Err(CoreError::invalid("server_url", "must not contain #"));
                }
                let mut text = format!("{SCHEME}{url}#{}", self.code);
                for pin in &self.pins {
                    text.push('#');
                    text.push_str(&pin.to_string());
                }
                Ok(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_round_trip_with_and_without_pins() -> Result<()> {
        let pins = vec![SpkiPin::of_spki(b"current"), SpkiPin::of_spki(b"next")];
        for link in [
            EnrolLink {
                server_url: Some("https://sync.example.org".into()),
                code: "7KQM-2XHD-9RTA".into(),
                pins: pins.clone(),
            },
            EnrolLink {
                server_url: Some("https://sync.example.org:8443".into()),
                code: "7KQM-2XHD-9RTA".into(),
                pins: Vec::new(),
            },
            EnrolLink {
                server_url: None,
                code: "7KQM-2XHD-9RTA".into(),
                pins: Vec::new(),
            },
        ] {
            assert_eq!(EnrolLink::parse(&link.to_text()?)?, link);
        }
        // The form written before pins existed still reads.
        let old = EnrolLink::parse("fieldcase-enrol:https://sync.example.org#ABCD-EFGH-JKMN")?;
        assert_eq!(old.code, "ABCD-EFGH-JKMN");
        assert!(old.pins.is_empty());
        Ok(())
    }

    #[test]
    fn damaged_links_are_refused() {
        let ok = SpkiPin::of_spki(b"k").to_string();
        for bad in [
            "fieldcase-enrol:https://x#CODE#sha256/AAAA".to_string(),
            format!("fieldcase-enrol:https://x#CODE#{}", &ok[..20]),
            "fieldcase-enrol:#CODE".to_string(),
            "fieldcase-enrol:https://x".to_string(),
            "CODE#extra".to_string(),
            "   ".to_string(),
        ] {
            assert!(
                matches!(EnrolLink::parse(&bad), Err(CoreError::InvalidInput { .. })),
                "{bad:?} was accepted"
            );
        }
        let pinned_without_url = EnrolLink {
            server_url: None,
            code: "C".into(),
            pins: vec![SpkiPin::of_spki(b"k")],
        };
        assert!(pinned_without_url.to_text().is_err());
    }
}
