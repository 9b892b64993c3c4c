//! The saved client settings: coordinator URL and credentials, in an owner-only JSON file.

/// Saved client settings (`$JETTY_CONFIG`, else `$XDG_CONFIG_HOME/jetty/config.json`, else
/// `~/.config/jetty/config.json`), written with owner-only permissions.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<String>,
}

impl Config {
    pub fn path() -> Option<std::path::PathBuf> {
        if let Some(p) = std::env::var_os("JETTY_CONFIG") {
            return Some(p.into());
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))?;
        Some(base.join("jetty/config.json"))
    }

    pub fn load() -> Config {
        Config::path()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self) -> std::io::Result<std::path::PathBuf> {
        use std::io::Write;
        let path = Config::path().ok_or_else(|| std::io::Error::other("no config directory (set JETTY_CONFIG)"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&path)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        Ok(path)
    }
}
