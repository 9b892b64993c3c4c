//! `jetty ls` and `jetty uploads`: the account's files and open upload sessions, newest first,
//! as tables or (`--json`) as the server's pages merged into one answer.

use jetty_client::{Client, ClientError};
use jetty_shared::listing::{FileListing, UploadListing};

/// What to list and how much.
pub struct Listing<'a> {
    pub prefix: &'a str,
    /// Uploads only: the content's hex SHA-256.
    pub hash: Option<&'a str>,
    /// Rows at most; `None`: every page.
    pub limit: Option<u32>,
    pub json: bool,
}

/// Rows asked per request (the server's largest page).
const PAGE: u32 = 200;

impl Listing<'_> {
    fn page_size(&self, listed: usize) -> Option<u32> {
        match self.limit {
            None => Some(PAGE),
            Some(limit) => {
                let left = (limit as usize).saturating_sub(listed);
                (left > 0).then(|| left.min(PAGE as usize) as u32)
            }
        }
    }
}

pub async fn list_files(client: &Client, what: &Listing<'_>) -> Result<(), ClientError> {
    let mut files: Vec<FileListing> = Vec::new();
    let mut cursor: Option<String> = None;
    while let Some(page) = what.page_size(files.len()) {
        let answer = client.list_files(what.prefix, page, cursor.as_deref()).await?;
        files.extend(answer.files);
        cursor = answer.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if what.json {
        println!("{}", serde_json::json!({ "files": files, "nextCursor": cursor }));
        return Ok(());
    }
    println!("{:<19}  {:>12}  {:<36}  name", "created (UTC)", "bytes", "id");
    for f in &files {
        println!(
            "{:<19}  {:>12}  {:<36}  {}",
            utc(f.created_at),
            f.size,
            f.id,
            f.name.as_deref().unwrap_or("-")
        );
    }
    more_hint(cursor.is_some());
    Ok(())
}

pub async fn list_uploads(client: &Client, what: &Listing<'_>) -> Result<(), ClientError> {
    let mut uploads: Vec<UploadListing> = Vec::new();
    let mut cursor: Option<String> = None;
    while let Some(page) = what.page_size(uploads.len()) {
        let answer = client
            .list_uploads(what.prefix, what.hash, page, cursor.as_deref())
            .await?;
        uploads.extend(answer.uploads);
        cursor = answer.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if what.json {
        println!("{}", serde_json::json!({ "uploads": uploads, "nextCursor": cursor }));
        return Ok(());
    }
    println!(
        "{:<19}  {:>12}  {:>9}  {:<36}  name",
        "started (UTC)", "bytes", "parts", "file id"
    );
    for u in &uploads {
        println!(
            "{:<19}  {:>12}  {:>9}  {:<36}  {}",
            utc(u.created_at),
            u.file_size,
            format!("{}/{}", u.parts_done, u.part_count),
            u.file_id,
            u.file_name.as_deref().unwrap_or("-")
        );
    }
    if !uploads.is_empty() {
        println!("continue one with: jetty resume <file id> <file>");
    }
    more_hint(cursor.is_some());
    Ok(())
}

fn more_hint(more: bool) {
    if more {
        println!("(more: raise --limit, or --all)");
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of milliseconds since the epoch.
fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_798_761_599_000), "2026-12-31 23:59:59");
    }

    #[test]
    fn a_limit_asks_only_for_the_rows_still_wanted() {
        let what = |limit| Listing {
            prefix: "",
            hash: None,
            limit,
            json: false,
        };
        assert_eq!(what(Some(50)).page_size(0), Some(50));
        assert_eq!(what(Some(450)).page_size(200), Some(200));
        assert_eq!(what(Some(450)).page_size(400), Some(50));
        assert_eq!(what(Some(50)).page_size(50), None);
        assert_eq!(what(None).page_size(10_000), Some(200));
    }
}
