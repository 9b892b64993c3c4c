//! S3 error codes as an enum (as s3s's `S3ErrorCode`): the `<Code>` of an S3 error document,
//! so decisions match on variants instead of strings. Codes the services do not branch on are
//! kept verbatim in `Other`.

macro_rules! s3_error_codes {
    ($( $(#[$doc:meta])* $variant:ident, )*) => {
        /// The `<Code>` of an S3 error document (AWS, R2 and Garage use the same names).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// Any other code, verbatim (empty when the document had no `<Code>`).
            Other(String),
        }

        impl S3ErrorCode {
            /// Every named code (not `Other`).
            pub const KNOWN: &'static [S3ErrorCode] = &[$( S3ErrorCode::$variant, )*];

            /// The code as S3 spells it; never fails (unknown codes become `Other`).
            pub fn from_code(code: &str) -> S3ErrorCode {
                match code.trim() {
                    $( stringify!($variant) => S3ErrorCode::$variant, )*
                    other => S3ErrorCode::Other(other.to_owned()),
                }
            }

            /// The code as S3 spells it, e.g. `NoSuchUpload`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( S3ErrorCode::$variant => stringify!($variant), )*
                    S3ErrorCode::Other(code) => code,
                }
            }
        }
    };
}

s3_error_codes! {
    /// The multipart upload is gone (aborted, completed, or never existed).
    NoSuchUpload,
    NoSuchKey,
    NoSuchBucket,
    /// A listed part was not uploaded, or its ETag does not match.
    InvalidPart,
    InvalidPartOrder,
    /// A part other than the last is below the store's minimum part size.
    EntityTooSmall,
    EntityTooLarge,
    /// A digest header (`Content-MD5`, `x-amz-checksum-*`) is malformed or does not match.
    InvalidDigest,
    /// The body does not match its declared digest.
    BadDigest,
    /// The body does not match the signed `x-amz-content-sha256`.
    XAmzContentSHA256Mismatch,
    /// The body does not match the `x-amz-checksum-*` header (some stores).
    InvalidChecksum,
    /// MinIO: the body does not match the `x-amz-checksum-*` header.
    XAmzContentChecksumMismatch,
    SignatureDoesNotMatch,
    AccessDenied,
    InvalidAccessKeyId,
    /// The body did not arrive in time.
    RequestTimeout,
    /// Too many requests: back off and retry.
    SlowDown,
    ServiceUnavailable,
    InternalError,
    /// Fewer bytes than `Content-Length` arrived.
    IncompleteBody,
    InvalidRequest,
    InvalidArgument,
    PreconditionFailed,
    /// The store does not implement the operation (R2 and others for some calls).
    NotImplemented,
}

impl S3ErrorCode {
    /// A transient failure of the store: the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            S3ErrorCode::SlowDown
                | S3ErrorCode::ServiceUnavailable
                | S3ErrorCode::InternalError
                | S3ErrorCode::RequestTimeout
        )
    }
}

impl std::fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for S3ErrorCode {
    fn from(code: &str) -> Self {
        S3ErrorCode::from_code(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::{parse_error, S3ErrorDoc};

    #[test]
    fn every_known_code_round_trips_through_its_name() {
        for code in S3ErrorCode::KNOWN {
            assert_eq!(&S3ErrorCode::from_code(code.as_str()), code);
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!(
            S3ErrorCode::from_code("OperationAborted"),
            S3ErrorCode::Other("OperationAborted".into())
        );
        assert_eq!(S3ErrorCode::from_code("OperationAborted").as_str(), "OperationAborted");
        assert_eq!(S3ErrorCode::from_code(""), S3ErrorCode::Other(String::new()));
        // Codes are case-sensitive, as S3 sends them.
        assert_eq!(
            S3ErrorCode::from_code("nosuchupload"),
            S3ErrorCode::Other("nosuchupload".into())
        );
    }

    #[test]
    fn only_transient_store_failures_are_retryable() {
        let retryable: Vec<&S3ErrorCode> = S3ErrorCode::KNOWN.iter().filter(|c| c.is_retryable()).collect();
        assert_eq!(
            retryable,
            [
                &S3ErrorCode::RequestTimeout,
                &S3ErrorCode::SlowDown,
                &S3ErrorCode::ServiceUnavailable,
                &S3ErrorCode::InternalError,
            ]
        );
        assert!(!S3ErrorCode::Other("Throttling".into()).is_retryable());
    }

    /// Error documents as AWS S3, Garage, Cloudflare R2, MinIO and s3s-fs send them.
    #[test]
    fn error_documents_from_aws_garage_r2_minio_and_s3s_parse_into_the_enum() {
        use S3ErrorCode::*;
        let table: &[(&str, &str, S3ErrorCode, &str)] = &[
            (
                "aws NoSuchUpload",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId><RequestId>4442587FB7D0A2F9</RequestId><HostId>uxXFXQqC6Jd0ecd3jUdcQ8BJ0iZCtTqz4ZfFdR4/sKwVo0EvQbpiHZvNU2UgWG0LRMYLkEmwsGo=</HostId></Error>"#,
                NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            ),
            (
                "aws XAmzContentSHA256Mismatch",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>XAmzContentSHA256Mismatch</Code><Message>The provided 'x-amz-content-sha256' header does not match what was computed.</Message><ClientComputedContentSHA256>2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824</ClientComputedContentSHA256><S3ComputedContentSHA256>486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7</S3ComputedContentSHA256><RequestId>7TQ4VCJZ1G8Q0Z5N</RequestId><HostId>Xb1m0QpCk2Jq3V4mFh8aWQ==</HostId></Error>"#,
                XAmzContentSHA256Mismatch,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            (
                "aws BadDigest (checksum header)",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match the calculated checksum.</Message><RequestId>B1Y3G7C0Z7C9NQ2M</RequestId><HostId>kH8q+3mG2b0=</HostId></Error>"#,
                BadDigest,
                "The SHA256 you specified did not match the calculated checksum.",
            ),
            (
                "aws SignatureDoesNotMatch (with the string to sign)",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256
20130524T000000Z
20130524/us-east-1/s3/aws4_request
7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972</StringToSign><SignatureProvided>f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42</SignatureProvided><CanonicalRequest>GET
/test.txt
</CanonicalRequest><RequestId>8YQ1B2C3D4E5F6G7</RequestId><HostId>Zm9vYmFy</HostId></Error>"#,
                SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
            (
                "aws EntityTooSmall on Complete",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed size</Message><ProposedSize>1048576</ProposedSize><MinSizeAllowed>5242880</MinSizeAllowed><PartNumber>1</PartNumber><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><RequestId>3F1B2C8D9E0A7B6C</RequestId><HostId>aGVsbG8=</HostId></Error>"#,
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size",
            ),
            (
                "aws InternalError with status 200 on Complete",
                r#"<?xml version="1.0" encoding="UTF-8"?>

<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>"#,
                InternalError,
                "We encountered an internal error. Please try again.",
            ),
            (
                "aws SlowDown",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>0A1B2C3D4E5F6071</RequestId><HostId>c2xvdw==</HostId></Error>"#,
                SlowDown,
                "Please reduce your request rate.",
            ),
            (
                "aws RequestTimeout",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.</Message><RequestId>1B2C3D4E5F607182</RequestId><HostId>dGltZW91dA==</HostId></Error>"#,
                RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
            ),
            (
                "aws PreconditionFailed",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-Match</Condition><RequestId>2C3D4E5F60718293</RequestId><HostId>cHJl</HostId></Error>"#,
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ),
            (
                "garage NoSuchUpload",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>Upload not found</Message><Resource>/jetty/accounts/acc_1/files/fil_1</Resource><Region>garage</Region></Error>"#,
                NoSuchUpload,
                "Upload not found",
            ),
            (
                "garage InvalidDigest (checksum header)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidDigest</Code><Message>Invalid digest: Invalid SHA256 checksum</Message><Resource>/jetty/accounts/acc_1/files/fil_1</Resource><Region>garage</Region></Error>"#,
                InvalidDigest,
                "Invalid digest: Invalid SHA256 checksum",
            ),
            (
                "garage InvalidPart",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidPart</Code><Message>Invalid part</Message><Resource>/jetty/accounts/acc_1/files/fil_1</Resource><Region>garage</Region></Error>"#,
                InvalidPart,
                "Invalid part",
            ),
            (
                "garage InvalidPartOrder",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidPartOrder</Code><Message>Parts given to CompleteMultipartUpload do not match uploaded parts</Message><Resource>/jetty/k</Resource><Region>garage</Region></Error>"#,
                InvalidPartOrder,
                "Parts given to CompleteMultipartUpload do not match uploaded parts",
            ),
            (
                "garage ServiceUnavailable (database is locked)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Internal error: database is locked</Message><Resource>/jetty/accounts/acc_1/files/fil_1</Resource><Region>garage</Region></Error>"#,
                ServiceUnavailable,
                "Internal error: database is locked",
            ),
            (
                "garage AccessDenied (key without bucket permission)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Forbidden: Operation is not allowed for this key.</Message><Resource>/jetty/k</Resource><Region>garage</Region></Error>"#,
                AccessDenied,
                "Forbidden: Operation is not allowed for this key.",
            ),
            (
                "garage InvalidRequest (bad request)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>Bad request: Part number must be between 1 and 10000</Message><Resource>/jetty/k</Resource><Region>garage</Region></Error>"#,
                InvalidRequest,
                "Bad request: Part number must be between 1 and 10000",
            ),
            (
                "r2 NoSuchUpload",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified multipart upload does not exist.</Message></Error>"#,
                NoSuchUpload,
                "The specified multipart upload does not exist.",
            ),
            (
                "r2 InvalidPart (unequal part sizes)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidPart</Code><Message>All non-trailing parts must have the same length.</Message></Error>"#,
                InvalidPart,
                "All non-trailing parts must have the same length.",
            ),
            (
                "r2 InvalidAccessKeyId",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>"#,
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            (
                "r2 NoSuchBucket",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>"#,
                NoSuchBucket,
                "The specified bucket does not exist.",
            ),
            (
                "r2 InvalidArgument",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Invalid Argument: Credential access key has length 20, should be 32</Message></Error>"#,
                InvalidArgument,
                "Invalid Argument: Credential access key has length 20, should be 32",
            ),
            (
                "r2 IncompleteBody",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>IncompleteBody</Code><Message>The request body terminated unexpectedly</Message></Error>"#,
                IncompleteBody,
                "The request body terminated unexpectedly",
            ),
            (
                "r2 NoSuchKey",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"#,
                NoSuchKey,
                "The specified key does not exist.",
            ),
            (
                "minio XAmzContentChecksumMismatch (checksum header)",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>XAmzContentChecksumMismatch</Code><Message>The provided &#39;x-amz-checksum&#39; header does not match what was computed.</Message><Key>k</Key><BucketName>jetty</BucketName><Resource>/jetty/k</Resource><RequestId>17F1A2B3C4D5E6F7</RequestId><HostId>dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8</HostId></Error>"#,
                XAmzContentChecksumMismatch,
                "The provided 'x-amz-checksum' header does not match what was computed.",
            ),
            (
                "s3s-fs AccessDenied (upload id it does not know)",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>"#,
                AccessDenied,
                "",
            ),
            (
                "an unknown code stays verbatim",
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>OperationAborted</Code><Message>A conflicting conditional operation is currently in progress against this resource. Please try again.</Message></Error>"#,
                Other("OperationAborted".into()),
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ),
            (
                "a document without a code",
                r#"<Error><Message>oops</Message></Error>"#,
                Other(String::new()),
                "oops",
            ),
        ];
        for (name, xml, kind, message) in table {
            let doc: S3ErrorDoc = parse_error(xml).unwrap_or_else(|| panic!("{name}: not parsed"));
            assert_eq!(&doc.kind(), kind, "{name}");
            assert_eq!(doc.code, kind.as_str(), "{name}: the code string is kept");
            assert_eq!(doc.message, *message, "{name}");
        }
    }
}
