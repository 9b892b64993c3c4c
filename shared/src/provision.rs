//! Checks of the platform's provisioning input (webhooks): user ids and email addresses.

use crate::{ApiError, ErrorCode};

/// A platform user id: 1–64 characters of `A-Z a-z 0-9 _ -` (it names the account's records).
pub fn check_user_id(user_id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&user_id.len())
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "user_id must be 1-64 characters of A-Z, a-z, 0-9, _ and -",
        ))
    }
}

/// A plausible email address: one `@` with a dotted domain, no spaces or control characters,
/// at most 254 bytes. (Deliverability is the platform's business.)
pub fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "email is not a valid address",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_short_and_plain() {
        let long = "u".repeat(65);
        let cases = [
            ("usr_123-abc", true),
            ("a", true),
            (&long[..64], true),
            ("", false),
            (long.as_str(), false),
            ("usr 1", false),
            ("usr/1", false),
            ("usré", false),
        ];
        for (id, ok) in cases {
            assert_eq!(check_user_id(id).is_ok(), ok, "{id:?}");
        }
        assert_eq!(check_user_id("").unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        let long = format!("{}@example.com", "a".repeat(243));
        let cases = [
            ("me@example.com", true),
            ("a.b+c@mail.example.org", true),
            ("me@localhost", false),
            ("@example.com", false),
            ("me example.com", false),
            ("me @example.com", false),
            ("me@exa\nmple.com", false),
            ("me@exa\u{7}mple.com", false),
            (long.as_str(), false),
        ];
        for (email, ok) in cases {
            assert_eq!(check_email(email).is_ok(), ok, "{email:?}");
        }
    }
}
