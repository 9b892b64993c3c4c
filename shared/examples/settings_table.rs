//! Prints the README's settings table from `SETTINGS` (`cargo run -p jetty-shared --example settings_table`).

fn main() {
    print!("{}", jetty_shared::config::settings_markdown());
}
