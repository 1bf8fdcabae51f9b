//! The otpauth URI as a QR code: encoded once, then drawn for a terminal
//! (UTF-8 half blocks or ANSI colour cells), as a PNG or as an SVG.
//!
//! Every rendering has a quiet zone of four light modules on each side, as
//! ISO/IEC 18004 asks; phone cameras find the code much less reliably
//! without it. The terminal renderings set both colours explicitly (black
//! on white), so the code reads the same on dark and light terminal themes.

use std::fmt::Write as _;

use qrcode::{EcLevel, QrCode};

/// Light modules around the code on each side.
pub const QUIET_ZONE: usize = 4;

/// How the QR code is shown in the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalMode {
    /// Nothing is drawn.
    None,
    /// Half blocks: one text line holds two module rows.
    Utf8,
    /// Two colour cells per module, one text line per module row.
    Ansi,
}

impl TerminalMode {
    /// Reads a `--qr-mode` value. google-authenticator's names are taken,
    /// in any case, with `-` or `_`; its `_INVERSE` and `_GREY` variants
    /// exist there to suit a terminal's theme, which explicit colours make
    /// unnecessary, so they mean the same as the plain mode here.
    pub fn parse(text: &str) -> Result<TerminalMode, String> {
        let t = text.to_ascii_lowercase().replace('-', "_");
        match t.as_str() {
            "none" => Ok(TerminalMode::None),
            "utf8" | "utf8_inverse" | "utf8_grey" | "utf_8" => Ok(TerminalMode::Utf8),
            "ansi" | "ansi_inverse" | "ansi_grey" => Ok(TerminalMode::Ansi),
            _ => Err(format!(
                "unknown QR mode \"{text}\" (use utf8, ansi or none)"
            )),
        }
    }
}

/// The modules of a QR code, without the quiet zone.
pub struct Matrix {
    width: usize,
    dark: Vec<bool>,
}

/// Black text on a white background, then back to the terminal's own colours.
const BLACK_ON_WHITE: &str = "\x1b[30;47m";
const DARK_CELL: &str = "\x1b[40m";
const LIGHT_CELL: &str = "\x1b[47m";
const RESET: &str = "\x1b[0m";

impl Matrix {
    /// Encodes `text` at error-correction level M (as google-authenticator
    /// does), in the smallest version that holds it.
    pub fn encode(text: &str) -> Result<Matrix, String> {
        let code =
            QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
                format!(
                    "the URI does not fit in a QR code ({e}); use a shorter issuer or account name"
                )
            })?;
        let width = code.width();
        Ok(Matrix {
            width,
            dark: code
                .into_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
        })
    }

    /// Modules per side, without the quiet zone.
    #[cfg(test)]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side with the quiet zone.
    pub fn size(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether the module at (x, y) is dark; coordinates include the quiet
    /// zone, and anything outside the code is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// Half-block drawing: each character cell holds an upper and a lower
    /// module, black ink on a white background.
    pub fn to_utf8(&self) -> String {
        let size = self.size();
        let mut out = String::new();
        for y in (0..size).step_by(2) {
            out.push_str(BLACK_ON_WHITE);
            for x in 0..size {
                out.push(match (self.is_dark(x, y), self.is_dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push_str(RESET);
            out.push('\n');
        }
        out
    }

    /// Colour-cell drawing: each module is two spaces on a black or white
    /// background; works where the block characters are missing from the font.
    pub fn to_ansi(&self) -> String {
        let size = self.size();
        let mut out = String::new();
        for y in 0..size {
            let mut current = None;
            for x in 0..size {
                let dark = self.is_dark(x, y);
                if current != Some(dark) {
                    out.push_str(if dark { DARK_CELL } else { LIGHT_CELL });
                    current = Some(dark);
                }
                out.push_str("  ");
            }
            out.push_str(RESET);
            out.push('\n');
        }
        out
    }

    /// The drawing for a terminal mode (empty for `None`).
    pub fn for_terminal(&self, mode: TerminalMode) -> String {
        match mode {
            TerminalMode::None => String::new(),
            TerminalMode::Utf8 => self.to_utf8(),
            TerminalMode::Ansi => self.to_ansi(),
        }
    }

    /// A black-and-white PNG, `scale` pixels per module (1-bit greyscale,
    /// uncompressed deflate blocks: small enough, and no codec to trust).
    pub fn to_png(&self, scale: usize) -> Vec<u8> {
        let scale = scale.max(1);
        let pixels = self.size() * scale;
        let row_bytes = pixels.div_ceil(8);
        let mut raw = Vec::with_capacity((row_bytes + 1) * pixels);
        for py in 0..pixels {
            raw.push(0); // filter type: none
            let mut row = vec![0u8; row_bytes];
            for px in 0..pixels {
                if !self.is_dark(px / scale, py / scale) {
                    row[px / 8] |= 0x80 >> (px % 8);
                }
            }
            raw.extend_from_slice(&row);
        }
        let side = u32::try_from(pixels).unwrap_or(u32::MAX);
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&side.to_be_bytes());
        ihdr.extend_from_slice(&side.to_be_bytes());
        // bit depth 1, colour type 0 (greyscale), deflate, no filter set, no interlace
        ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);

        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &zlib_stored(&raw));
        chunk(&mut png, b"IEND", &[]);
        png
    }

    /// An SVG with one unit per module; dark runs of a row are one path segment each.
    pub fn to_svg(&self) -> String {
        let size = self.size();
        let mut path = String::new();
        for y in 0..size {
            let mut x = 0;
            while x < size {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < size && self.is_dark(x, y) {
                    x += 1;
                }
                let _ = write!(path, "M{start} {y}h{}v1h-{}z", x - start, x - start);
            }
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 {size} {size}\" \
             width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\">\n\
             <rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>\n\
             <path fill=\"#000000\" d=\"{path}\"/>\n\
             </svg>\n",
            px = size * 8
        )
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    png.extend_from_slice(&len.to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks (RFC 1950, 1951 §3.2.4).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(0xffff).collect()
    };
    let last = blocks.len() - 1;
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i == last));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/Example:alice%40host?secret=JBSWY3DPEHPK3PXP&issuer=Example";

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn quiet_zone_is_four_light_modules() {
        let m = Matrix::encode(URI).unwrap();
        let size = m.size();
        assert_eq!(size, m.width() + 8);
        for i in 0..size {
            for q in 0..QUIET_ZONE {
                assert!(!m.is_dark(q, i) && !m.is_dark(i, q));
                assert!(!m.is_dark(size - 1 - q, i) && !m.is_dark(i, size - 1 - q));
            }
        }
        // The finder pattern's corner sits right inside the quiet zone.
        assert!(m.is_dark(QUIET_ZONE, QUIET_ZONE));
    }

    #[test]
    fn utf8_drawing_holds_two_rows_per_line() {
        let m = Matrix::encode(URI).unwrap();
        let text = m.to_utf8();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), m.size().div_ceil(2));
        for (row, line) in lines.iter().enumerate() {
            let cells: Vec<char> = line
                .strip_prefix(BLACK_ON_WHITE)
                .and_then(|l| l.strip_suffix(RESET))
                .unwrap()
                .chars()
                .collect();
            assert_eq!(cells.len(), m.size());
            for (x, c) in cells.iter().enumerate() {
                let top = matches!(c, '█' | '▀');
                let bottom = matches!(c, '█' | '▄');
                assert_eq!(top, m.is_dark(x, 2 * row));
                assert_eq!(bottom, m.is_dark(x, 2 * row + 1));
            }
        }
    }

    #[test]
    fn svg_paths_cover_exactly_the_dark_modules() {
        let m = Matrix::encode(URI).unwrap();
        let svg = m.to_svg();
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        let mut dark = vec![false; m.size() * m.size()];
        for seg in d.split('z').filter(|s| !s.is_empty()) {
            let seg = seg.strip_prefix('M').unwrap();
            let (xy, rest) = seg.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let len: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            for i in x..x + len {
                dark[y * m.size() + i] = true;
            }
        }
        for y in 0..m.size() {
            for x in 0..m.size() {
                assert_eq!(dark[y * m.size() + x], m.is_dark(x, y), "({x},{y})");
            }
        }
    }

    #[test]
    fn png_is_well_formed() {
        let m = Matrix::encode(URI).unwrap();
        let png = m.to_png(3);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        let side = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        assert_eq!(side as usize, m.size() * 3);
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn modes_parse_like_google_authenticator() {
        for (t, m) in [
            ("UTF8", TerminalMode::Utf8),
            ("utf8-inverse", TerminalMode::Utf8),
            ("ANSI_GREY", TerminalMode::Ansi),
            ("ansi", TerminalMode::Ansi),
            ("None", TerminalMode::None),
        ] {
            assert_eq!(TerminalMode::parse(t), Ok(m), "{t}");
        }
        assert!(TerminalMode::parse("png").is_err());
    }
}
