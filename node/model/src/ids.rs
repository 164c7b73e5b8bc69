//! Identifier checks shared by cards, CLI arguments and requests (URNs, uuids).

/// A URN as PACT uses them: `urn:` then a namespace id and a non-empty specific string.
pub fn is_urn(s: &str) -> bool {
    let Some(rest) = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("urn:"))
        .map(|_| &s[4..])
    else {
        return false;
    };
    let Some((nid, nss)) = rest.split_once(':') else {
        return false;
    };
    !nid.is_empty()
        && nid.len() <= 32
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nss.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A uuid in its canonical 8-4-4-4-12 hex form.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns() {
        assert!(is_urn("urn:tanso:company:steel"));
        assert!(is_urn("URN:gtin:4012345000009"));
        assert!(!is_urn("urn:"));
        assert!(!is_urn("urn:x"));
        assert!(!is_urn("urn::x"));
        assert!(!is_urn("company:steel"));
        assert!(!is_urn("urn:a b:c"));
        assert!(!is_urn("urn:tanso:has space"));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("12345678-9abc-def0-1234-567812345678"));
        assert!(!is_uuid("12345678-9abc-def0-1234-56781234567"));
        assert!(!is_uuid("12345678-9abc-def0-1234-56781234567g"));
        assert!(!is_uuid("not-a-uuid"));
    }
}
