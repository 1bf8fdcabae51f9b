//! A QR code read back from what a program drew: terminal output (UTF-8 half
//! blocks or ANSI background colours) or an SVG of rectangles, decoded with
//! rqrr, a decoder independent of the encoder that drew it.

/// Module rows read back from a drawing: `true` is dark.
pub type Grid = Vec<Vec<bool>>;

/// Splits a line into (colour escape in force, character) pairs.
fn cells(line: &str) -> Vec<(String, char)> {
    let mut out = Vec::new();
    let mut colour = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            let mut esc = String::from(c);
            for d in chars.by_ref() {
                esc.push(d);
                if d == 'm' {
                    break;
                }
            }
            colour = esc;
        } else if c != '\r' {
            out.push((colour.clone(), c));
        }
    }
    out
}

/// The QR code of UTF-8 mode: lines drawn black on white, two module rows a
/// line in half blocks.
pub fn from_utf8(text: &str) -> Grid {
    let mut grid = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("\x1b[30;47m")) {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for (_, c) in cells(line) {
            top.push(matches!(c, '█' | '▀'));
            bottom.push(matches!(c, '█' | '▄'));
        }
        grid.push(top);
        grid.push(bottom);
    }
    grid
}

/// The QR code of ANSI mode: two blank cells per module, dark on a black background.
pub fn from_ansi(text: &str) -> Grid {
    text.lines()
        .filter(|l| l.starts_with("\x1b[4"))
        .map(|line| {
            cells(line)
                .chunks(2)
                .map(|pair| {
                    assert!(
                        pair.iter().all(|(_, c)| *c == ' '),
                        "an ANSI module is two blank cells: {line:?}"
                    );
                    pair[0].0 == "\x1b[40m"
                })
                .collect()
        })
        .collect()
}

/// Rasterises an SVG of rectangles drawn as `M x y h w v1 h-w z` in a
/// `viewBox="0 0 size size"`.
pub fn from_svg(svg: &str) -> Grid {
    let fail = |what: &str| -> ! { panic!("SVG without {what}:\n{svg}") };
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fail("a viewBox"));
    let mut grid = vec![vec![false; size]; size];
    let d = svg
        .split(" d=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| fail("a path"));
    for seg in d.split('z').filter(|s| !s.is_empty()) {
        let parsed = (|| {
            let (xy, rest) = seg.strip_prefix('M')?.split_once('h')?;
            let (x, y) = xy.split_once(' ')?;
            let len: usize = rest.split_once('v')?.0.parse().ok()?;
            Some((x.parse::<usize>().ok()?, y.parse::<usize>().ok()?, len))
        })();
        let (x, y, len) =
            parsed.unwrap_or_else(|| fail(&format!("a readable rectangle ({seg:?})")));
        for cell in &mut grid[y][x..x + len] {
            *cell = true;
        }
    }
    grid
}

/// The square part of a grid: UTF-8 mode may end with one extra light row
/// (two rows a line).
pub fn square(grid: &Grid) -> Grid {
    let width = grid.first().map_or(0, Vec::len);
    grid.iter().take(width).cloned().collect()
}

/// Light rows and columns around the drawing.
pub fn quiet_zone(grid: &Grid) -> usize {
    let size = grid.len();
    (0..size / 2)
        .take_while(|&q| {
            (0..size).all(|i| {
                !grid[q][i] && !grid[size - 1 - q][i] && !grid[i][q] && !grid[i][size - 1 - q]
            })
        })
        .count()
}

/// Decodes a module grid, drawn at 4 pixels per module: the one QR code in it.
pub fn decode(grid: &Grid) -> String {
    const SCALE: usize = 4;
    let h = grid.len() * SCALE;
    let w = grid.first().map_or(0, Vec::len) * SCALE;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if grid[y / SCALE][x / SCALE] { 0 } else { 255 }
    });
    let grids = img.detect_grids();
    assert_eq!(
        grids.len(),
        1,
        "expected one QR code in the drawing\n{}",
        show(grid)
    );
    match grids[0].decode() {
        Ok((_, text)) => text,
        Err(e) => panic!("the QR code does not decode: {e:?}\n{}", show(grid)),
    }
}

/// The grid as text, for a failure message.
pub fn show(grid: &Grid) -> String {
    grid.iter()
        .map(|row| row.iter().map(|&d| if d { '#' } else { '.' }).collect())
        .collect::<Vec<String>>()
        .join("\n")
}
