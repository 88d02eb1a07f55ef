//! QR codes in the terminal, two modules per character cell (`Dense1x2`), so an otpauth
//! URI fits an 80×24 terminal.

use qrcode::render::unicode::Dense1x2;
use qrcode::types::QrError;
use qrcode::{EcLevel, QrCode};
use zeroize::Zeroizing;

/// How to draw the code so that a phone can scan it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Black on white, set with ANSI colours: right on light and dark terminal themes alike.
    Ansi,
    /// No escape sequences (`NO_COLOR`, `TERM=dumb`): light modules are drawn as blocks, which
    /// is right for light text on a dark background, the usual terminal default.
    Plain,
}

impl Style {
    /// [`Style::Plain`] when `NO_COLOR` is set (non-empty) or `TERM` is `dumb`, else
    /// [`Style::Ansi`].
    pub fn from_env() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if no_color || dumb {
            Style::Plain
        } else {
            Style::Ansi
        }
    }
}

/// Black foreground on a white background.
const ANSI_BLACK_ON_WHITE: &str = "\x1b[30;47m";
/// Back to the terminal's colours.
const ANSI_RESET: &str = "\x1b[0m";

/// Renders `data` (an otpauth URI, so it holds a secret) as lines of text ending in `\n`, in a
/// buffer that is wiped when dropped.
pub fn render(data: &str, style: Style) -> Result<Zeroizing<String>, QrError> {
    // Medium error correction: readable from a slightly dirty or reflective screen.
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)?;
    let mut renderer = code.render::<Dense1x2>();
    renderer.quiet_zone(true);
    if style == Style::Plain {
        renderer
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark);
    }
    let image = Zeroizing::new(renderer.build());
    let mut out = Zeroizing::new(String::with_capacity(image.len() * 2));
    for line in image.lines() {
        if style == Style::Ansi {
            out.push_str(ANSI_BLACK_ON_WHITE);
            out.push_str(line);
            out.push_str(ANSI_RESET);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use qrcode::Color;

    use super::*;

    const URI: &str = "otpauth://totp/pam_mfa%40host.example:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&digits=6&algorithm=SHA1&issuer=pam_mfa%40host.example&period=30";

    /// Reads a rendered block back into modules (true = dark), undoing `Dense1x2`.
    fn modules(text: &str, style: Style) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in text.lines() {
            let line = line
                .trim_start_matches(ANSI_BLACK_ON_WHITE)
                .trim_end_matches(ANSI_RESET);
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                // The glyph's ink: top half, bottom half.
                let (t, b) = match c {
                    ' ' => (false, false),
                    '\u{2580}' => (true, false),
                    '\u{2584}' => (false, true),
                    '\u{2588}' => (true, true),
                    other => panic!("unexpected {other:?}"),
                };
                // Ansi draws dark modules as ink; Plain draws light ones.
                let ink_is_dark = style == Style::Ansi;
                top.push(t == ink_is_dark);
                bottom.push(b == ink_is_dark);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    /// The code's modules inside a 4-module light quiet zone.
    fn expected(data: &str) -> Vec<Vec<bool>> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).unwrap();
        let n = code.width();
        let colors = code.to_colors();
        let size = n + 8;
        let mut grid = vec![vec![false; size]; size];
        for y in 0..n {
            for x in 0..n {
                grid[y + 4][x + 4] = colors[y * n + x] == Color::Dark;
            }
        }
        grid
    }

    #[test]
    fn a_sample_uri_renders_a_non_empty_block_that_fits_a_terminal() {
        for style in [Style::Ansi, Style::Plain] {
            let text = render(URI, style).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines.len() > 10, "{style:?}");
            assert!(lines.len() <= 40, "{} lines", lines.len());
            let width = |l: &str| {
                l.trim_start_matches(ANSI_BLACK_ON_WHITE)
                    .trim_end_matches(ANSI_RESET)
                    .chars()
                    .count()
            };
            let w = width(lines[0]);
            assert!(w <= 80, "{w} columns");
            assert!(lines.iter().all(|l| width(l) == w), "ragged lines");
            assert!(text.contains('\u{2588}') || text.contains('\u{2580}'));
            assert!(
                !text.contains("JBSWY3DP"),
                "the secret must only be in the picture"
            );
        }
    }

    #[test]
    fn the_rendered_modules_are_exactly_the_codes_modules() {
        for style in [Style::Ansi, Style::Plain] {
            let text = render(URI, style).unwrap();
            let mut got = modules(&text, style);
            let want = expected(URI);
            // An odd number of rows leaves the last line's lower half blank: drop it.
            got.truncate(want.len());
            assert_eq!(got, want, "{style:?}");
        }
    }

    #[test]
    fn ansi_lines_reset_the_colours() {
        let text = render(URI, Style::Ansi).unwrap();
        assert!(
            text.lines()
                .all(|l| l.starts_with(ANSI_BLACK_ON_WHITE) && l.ends_with(ANSI_RESET))
        );
        assert!(!render(URI, Style::Plain).unwrap().contains('\u{1b}'));
    }

    #[test]
    fn data_too_long_for_any_qr_code_is_an_error() {
        assert!(render(&"x".repeat(8000), Style::Plain).is_err());
    }
}
