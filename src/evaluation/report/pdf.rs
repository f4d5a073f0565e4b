//! The evaluation report document ([`super::doc::ReportDoc`]) as a PDF: A4 landscape,
//! one embedded CJK font (subset by krilla to the glyphs used), tables that break across
//! pages with their heading row repeated, and a running header and footer that carry the
//! tender code and the report's SHA-256.
//!
//! The font is never fetched: it is the file named by the config key `report_font`
//! (`SUNBID_REPORT_FONT`), or else the first of [`FONT_CANDIDATES`] present (Debian's
//! fonts-wqy-microhei, fonts-wqy-zenhei, fonts-noto-cjk, fonts-droid-fallback). With none,
//! [`ReportError::FontMissing`] (503); the HTML report does not need it.
//!
//! Layout is deliberately simple: one font, no shaping beyond the character map (Chinese,
//! Latin and digits need none), greedy line breaking that may break between any two CJK
//! characters and otherwise at spaces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use krilla::Document;
use krilla::color::{luma, rgb};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use super::doc::{Block, ReportDoc, ReportError, Table};
use crate::config::Config;

/// Font files looked for when `report_font` is not set, with the face index to use in a
/// collection (Noto CJK's index 2 is the Simplified Chinese face).
pub const FONT_CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
    ),
];

/// A loaded font: the bytes (for measuring) and krilla's handle (for drawing).
pub struct ReportFont {
    data: Arc<Vec<u8>>,
    index: u32,
    font: Font,
    path: PathBuf,
}

impl ReportFont {
    /// The file the font was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// Reading and hashing a 5 MB font per request would cost more than the layout: keep the
// last one loaded.
static FONT_CACHE: Mutex<Option<Arc<ReportFont>>> = Mutex::new(None);

fn open_font(path: &Path, index: u32) -> Option<ReportFont> {
    let bytes = std::fs::read(path).ok()?;
    // Only a font that has Chinese characters will do.
    {
        let f = skrifa::FontRef::from_index(&bytes, index).ok()?;
        let cmap = f.charmap();
        if cmap.map('评').is_none() || cmap.map('标').is_none() {
            return None;
        }
    }
    let data = Arc::new(bytes);
    let font = Font::new(data.clone().into(), index)?;
    Some(ReportFont {
        data,
        index,
        font,
        path: path.to_path_buf(),
    })
}

/// The font for the PDF: `report_font` when set (and nothing else), else the first
/// candidate present; [`ReportError::FontMissing`] when none is usable.
pub fn find_font(config: &Config) -> Result<Arc<ReportFont>, ReportError> {
    let wanted: Vec<(PathBuf, u32)> = match &config.report_font {
        Some(p) => vec![(p.clone(), 0)],
        None => FONT_CANDIDATES
            .iter()
            .map(|(p, i)| (PathBuf::from(p), *i))
            .collect(),
    };
    let mut cache = FONT_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = cache.as_ref()
        && wanted.iter().any(|(p, i)| *p == f.path && *i == f.index)
        && (config.report_font.is_some() || wanted.first().is_some_and(|(p, _)| *p == f.path))
    {
        return Ok(f.clone());
    }
    for (p, i) in &wanted {
        if let Some(f) = open_font(p, *i) {
            let f = Arc::new(f);
            *cache = Some(f.clone());
            return Ok(f);
        }
    }
    Err(ReportError::FontMissing)
}

// ---- measuring ---------------------------------------------------------------------------------

struct Shaper<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    upem: f32,
    ascent: f32,
    descent: f32,
    cache: HashMap<char, (u32, f32)>,
}

impl<'a> Shaper<'a> {
    fn new(font: &'a ReportFont) -> Result<Self, ReportError> {
        let f = skrifa::FontRef::from_index(&font.data, font.index)
            .map_err(|e| ReportError::Pdf(e.to_string()))?;
        let m = f.metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(m.units_per_em.max(1));
        Ok(Self {
            charmap: f.charmap(),
            metrics: f.glyph_metrics(Size::unscaled(), LocationRef::default()),
            upem,
            ascent: m.ascent / upem,
            descent: m.descent / upem,
            cache: HashMap::new(),
        })
    }

    /// Glyph id and advance (in em) of a character.
    fn glyph(&mut self, c: char) -> (u32, f32) {
        if let Some(g) = self.cache.get(&c) {
            return *g;
        }
        let c2 = if c.is_control() { ' ' } else { c };
        let gid = self.charmap.map(c2).unwrap_or_default();
        let adv = self.metrics.advance_width(gid).unwrap_or(0.0) / self.upem;
        let g = (gid.to_u32(), adv);
        self.cache.insert(c, g);
        g
    }

    fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// Greedy line breaking within `max` points.
    fn wrap(&mut self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut out = Vec::new();
        for para in text.split('\n') {
            let chars: Vec<char> = para.chars().collect();
            let mut start = 0;
            while start < chars.len() {
                let mut w = 0.0;
                let mut end = start;
                let mut last_break: Option<usize> = None;
                while end < chars.len() {
                    let c = chars.get(end).copied().unwrap_or(' ');
                    let cw = self.glyph(c).1 * size;
                    if w + cw > max && end > start {
                        break;
                    }
                    w += cw;
                    end += 1;
                    if c == ' ' || is_cjk(c) || chars.get(end).is_some_and(|n| is_cjk(*n)) {
                        last_break = Some(end);
                    }
                }
                if end < chars.len()
                    && let Some(b) = last_break
                    && b > start
                {
                    end = b;
                }
                let line: String = chars.get(start..end).unwrap_or_default().iter().collect();
                out.push(line.trim_end().to_string());
                start = end;
                while chars.get(start) == Some(&' ') {
                    start += 1;
                }
            }
            if chars.is_empty() {
                out.push(String::new());
            }
        }
        out
    }

    fn glyphs(&mut self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let (gid, adv) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(gid),
                    adv,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

// ---- layout into a display list ------------------------------------------------------------------

const PAGE_W: f32 = 841.89;
const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 40.0;
const TOP: f32 = 54.0;
const BOTTOM: f32 = PAGE_H - 44.0;
const BODY_W: f32 = PAGE_W - 2.0 * MARGIN;
const PAD: f32 = 3.0;
const CELL: f32 = 8.5;
const TEXT: f32 = 9.5;

enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
    },
    Shade {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

struct Layout<'a> {
    sh: Shaper<'a>,
    pages: Vec<Vec<Op>>,
    y: f32,
    /// Where content starts on the current page (below a repeated table heading).
    page_top: f32,
}

impl Layout<'_> {
    fn page(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let n = self.pages.len() - 1;
        // Never empty here: a page was pushed above.
        #[allow(clippy::indexing_slicing)]
        &mut self.pages[n]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
        self.page_top = TOP;
    }

    fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn line_h(size: f32) -> f32 {
        size * 1.35
    }

    /// Baseline of a line box whose top is `top`.
    fn baseline(&self, top: f32, size: f32) -> f32 {
        let content = (self.sh.ascent - self.sh.descent) * size;
        top + (Self::line_h(size) - content) / 2.0 + self.sh.ascent * size
    }

    fn text(&mut self, x: f32, top: f32, size: f32, text: &str) {
        if text.is_empty() {
            return;
        }
        let y = self.baseline(top, size);
        self.page().push(Op::Text {
            x,
            y,
            size,
            text: text.to_string(),
        });
    }

    fn para(&mut self, text: &str, size: f32, indent: f32) {
        let lh = Self::line_h(size);
        for line in self.sh.wrap(text, size, BODY_W - indent) {
            self.ensure(lh);
            let y = self.y;
            self.text(MARGIN + indent, y, size, &line);
            self.y += lh;
        }
    }

    fn heading(&mut self, text: &str) {
        self.ensure(Self::line_h(13.0) + 6.0 + 4.0 * Self::line_h(CELL));
        self.y += 6.0;
        let y = self.y;
        self.text(MARGIN, y, 13.0, text);
        self.y += Self::line_h(13.0);
        let y = self.y;
        self.page().push(Op::Line {
            x1: MARGIN,
            y1: y,
            x2: MARGIN + BODY_W,
            y2: y,
            width: 0.8,
        });
        self.y += 4.0;
    }

    fn widths(&mut self, head: &[String], rows: &[Vec<String>], fixed: Option<&[f32]>) -> Vec<f32> {
        let n = head
            .len()
            .max(rows.iter().map(Vec::len).max().unwrap_or(0))
            .max(1);
        if let Some(f) = fixed {
            return f.to_vec();
        }
        let mut natural = vec![0.0f32; n];
        for row in std::iter::once(head).chain(rows.iter().map(Vec::as_slice)) {
            for (i, cell) in row.iter().enumerate() {
                let w = cell
                    .split('\n')
                    .map(|l| self.sh.width(l, CELL))
                    .fold(0.0, f32::max)
                    + 2.0 * PAD
                    + 1.0;
                if let Some(x) = natural.get_mut(i) {
                    *x = x.max(w.min(BODY_W));
                }
            }
        }
        let total: f32 = natural.iter().sum();
        if total <= BODY_W {
            let extra = (BODY_W - total) / n as f32;
            return natural.iter().map(|w| w + extra).collect();
        }
        // Water-filling: columns narrower than the fair share keep their width; the rest
        // share what is left equally.
        let mut width = vec![0.0f32; n];
        let mut open: Vec<usize> = (0..n).collect();
        let mut left = BODY_W;
        loop {
            let share = left / open.len().max(1) as f32;
            let (fit, rest): (Vec<usize>, Vec<usize>) = open
                .iter()
                .partition(|i| natural.get(**i).copied().unwrap_or(0.0) <= share);
            if fit.is_empty() {
                for i in &rest {
                    if let Some(w) = width.get_mut(*i) {
                        *w = share;
                    }
                }
                break;
            }
            for i in &fit {
                let w = natural.get(*i).copied().unwrap_or(0.0);
                if let Some(x) = width.get_mut(*i) {
                    *x = w;
                }
                left -= w;
            }
            open = rest;
            if open.is_empty() {
                break;
            }
        }
        width
    }

    /// One row: cells wrapped to the widths. A row that does not fit goes to a new page
    /// (with `head` repeated there); a row taller than a page is split across pages.
    fn row(
        &mut self,
        cells: &[String],
        widths: &[f32],
        numeric: &[bool],
        shade: bool,
        head: Option<&[String]>,
    ) {
        let lh = Self::line_h(CELL);
        let lines: Vec<Vec<String>> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let text = cells.get(i).map(String::as_str).unwrap_or("");
                self.sh.wrap(text, CELL, (w - 2.0 * PAD).max(CELL))
            })
            .collect();
        let total = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let head_h = head.map_or(0.0, |h| self.row_height(h, widths));
        let fresh_room = ((BOTTOM - TOP - head_h - 2.0 * PAD) / lh).floor().max(1.0) as usize;
        let mut from = 0;
        while from < total {
            let room = ((BOTTOM - self.y - 2.0 * PAD) / lh).floor().max(0.0) as usize;
            let need = total - from;
            let at_top = self.y <= self.page_top + 0.5;
            if !at_top && (room == 0 || (need > room && (need <= fresh_room || room < 2))) {
                self.break_page(widths, head);
                continue;
            }
            let take = need.min(room.max(1));
            let h = take as f32 * lh + 2.0 * PAD;
            let top = self.y;
            let mut x = MARGIN;
            if shade {
                self.page().push(Op::Shade {
                    x,
                    y: top,
                    w: widths.iter().sum(),
                    h,
                });
            }
            for (i, w) in widths.iter().enumerate() {
                let cell_lines = lines.get(i).map(Vec::as_slice).unwrap_or_default();
                for (k, line) in cell_lines.iter().skip(from).take(take).enumerate() {
                    let lw = self.sh.width(line, CELL);
                    let tx = if numeric.get(i).copied().unwrap_or(false) {
                        x + w - PAD - lw
                    } else {
                        x + PAD
                    };
                    self.text(tx, top + PAD + k as f32 * lh, CELL, line);
                }
                self.vline(x, top, h);
                x += w;
            }
            self.vline(x, top, h);
            self.hline(MARGIN, x, top);
            self.hline(MARGIN, x, top + h);
            self.y += h;
            from += take;
            if from < total {
                self.break_page(widths, head);
            }
        }
    }

    fn row_height(&mut self, cells: &[String], widths: &[f32]) -> f32 {
        let n = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let text = cells.get(i).map(String::as_str).unwrap_or("");
                self.sh.wrap(text, CELL, (w - 2.0 * PAD).max(CELL)).len()
            })
            .max()
            .unwrap_or(1)
            .max(1);
        n as f32 * Self::line_h(CELL) + 2.0 * PAD
    }

    fn break_page(&mut self, widths: &[f32], head: Option<&[String]>) {
        self.new_page();
        if let Some(h) = head {
            self.row(h, widths, &[], true, None);
            self.page_top = self.y;
        }
    }

    fn vline(&mut self, x: f32, top: f32, h: f32) {
        self.page().push(Op::Line {
            x1: x,
            y1: top,
            x2: x,
            y2: top + h,
            width: 0.4,
        });
    }

    fn hline(&mut self, x1: f32, x2: f32, y: f32) {
        self.page().push(Op::Line {
            x1,
            y1: y,
            x2,
            y2: y,
            width: 0.4,
        });
    }

    fn table(&mut self, t: &Table, fixed: Option<&[f32]>) {
        let widths = self.widths(&t.head, &t.rows, fixed);
        let head = (!t.head.is_empty()).then_some(t.head.as_slice());
        // Keep the caption, the heading and the first row together; keep a small table
        // whole on one page.
        let caption_h = t.caption.as_ref().map_or(0.0, |c| {
            3.0 + self.sh.wrap(c, TEXT, BODY_W).len() as f32 * Self::line_h(TEXT)
        });
        let head_h = head.map_or(0.0, |h| self.row_height(h, &widths));
        let row_hs: Vec<f32> = t.rows.iter().map(|r| self.row_height(r, &widths)).collect();
        let whole = caption_h + head_h + row_hs.iter().sum::<f32>();
        let first = caption_h + head_h + row_hs.first().copied().unwrap_or(0.0);
        let body = BOTTOM - TOP;
        self.ensure(if whole <= body / 2.0 {
            whole
        } else {
            first.min(body)
        });
        if let Some(c) = &t.caption {
            self.y += 3.0;
            self.para(c, TEXT, 0.0);
        }
        if let Some(h) = head {
            self.row(h, &widths, &[], true, None);
        }
        for r in &t.rows {
            self.row(r, &widths, &t.numeric, false, head);
        }
        self.y += 4.0;
    }
}

/// Renders the document as PDF bytes with `font`.
pub fn render(doc: &ReportDoc, font: &ReportFont) -> Result<Vec<u8>, ReportError> {
    let mut l = Layout {
        sh: Shaper::new(font)?,
        pages: vec![Vec::new()],
        y: TOP,
        page_top: TOP,
    };
    l.para(&doc.title, 18.0, 0.0);
    l.y += 2.0;
    l.para(&doc.notice, TEXT, 0.0);
    l.para(
        &format!("报告 SHA-256 Report SHA-256: {}", doc.sha256),
        TEXT,
        0.0,
    );
    for s in &doc.sections {
        l.heading(&s.heading);
        for b in &s.blocks {
            match b {
                Block::Para(t) => l.para(t, TEXT, 0.0),
                Block::Fields(f) => {
                    let t = Table {
                        caption: None,
                        head: Vec::new(),
                        rows: f.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect(),
                        numeric: vec![false, false],
                    };
                    l.table(&t, Some(&[220.0, BODY_W - 220.0]));
                }
                Block::Table(t) => l.table(t, None),
            }
        }
    }
    l.y += 6.0;
    l.para(&doc.footer, TEXT, 0.0);

    let Layout { mut sh, pages, .. } = l;
    let count = pages.len();
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(doc.title.clone())
            .language("zh-CN".into()),
    );
    let grey: luma::Color = luma::Color::new(120);
    let page_size = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| ReportError::Pdf("bad page size".into()))?;
    for (n, ops) in pages.iter().enumerate() {
        let mut page = document.start_page_with(page_size.clone());
        let mut surface = page.surface();
        let mut draw =
            |surface: &mut krilla::surface::Surface<'_>, x: f32, y: f32, size: f32, text: &str| {
                let glyphs = sh.glyphs(text);
                surface.draw_glyphs(
                    Point::from_xy(x, y),
                    &glyphs,
                    font.font.clone(),
                    text,
                    size,
                    false,
                );
            };
        // Running header and footer.
        draw(
            &mut surface,
            MARGIN,
            30.0,
            8.0,
            &format!("{} · 保密 Confidential", doc.title),
        );
        draw(
            &mut surface,
            MARGIN,
            PAGE_H - 22.0,
            8.0,
            &format!(
                "第 {} / {} 页 Page {} of {} · SHA-256 {}",
                n + 1,
                count,
                n + 1,
                count,
                doc.sha256
            ),
        );
        for op in ops {
            match op {
                Op::Text { x, y, size, text } => draw(&mut surface, *x, *y, *size, text),
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    width,
                } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: grey.into(),
                            width: *width,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                        surface.set_stroke(None);
                    }
                }
                Op::Shade { x, y, w, h } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_stroke(None);
                        surface.set_fill(Some(Fill {
                            paint: rgb::Color::new(235, 238, 242).into(),
                            ..Fill::default()
                        }));
                        surface.draw_path(&path);
                        surface.set_fill(None);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| ReportError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use crate::evaluation::report::doc::testdata::{extras, ids, sample, score};
    use crate::evaluation::report::doc::{build, points};

    /// The font, or `None` (with a note) outside CI when no CJK font is installed; CI
    /// installs fonts-wqy-microhei, so there a missing font fails the test.
    pub(crate) fn font_or_skip() -> Option<Arc<ReportFont>> {
        match find_font(&Config::default()) {
            Ok(f) => Some(f),
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: {e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// The PDF's text by poppler's `pdftotext`, or `None` (with a note) outside CI when it
    /// is not installed; CI installs poppler-utils.
    pub(crate) fn pdf_text(pdf: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = match std::process::Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(&path)
            .arg("-")
            .output()
        {
            Ok(o) => o,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: pdftotext not available ({e})");
                return None;
            }
            Err(e) => panic!("pdftotext: {e}"),
        };
        assert!(
            out.status.success(),
            "pdftotext refused the PDF: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8(out.stdout).unwrap())
    }

    #[test]
    fn the_pdf_is_valid_and_carries_the_chinese_text_and_every_score() {
        let Some(font) = font_or_skip() else { return };
        // 5 members × 20 bids × 10 criteria: the size the brief measures.
        let s = sample(&ids("m", 5), &ids("b", 20), 10);
        let doc = build(&s.json, &s.sha256, &extras(&s)).unwrap();
        let started = std::time::Instant::now();
        let pdf = render(&doc, &font).unwrap();
        eprintln!(
            "PDF of 5 members x 20 bids x 10 criteria: {} bytes, {} ms (font {})",
            pdf.len(),
            started.elapsed().as_millis(),
            font.path().display()
        );
        // To look at it: SUNBID_REPORT_PDF_OUT=/tmp/r.pdf, then pdftoppm -png.
        if let Some(out) = std::env::var_os("SUNBID_REPORT_PDF_OUT") {
            std::fs::write(out, &pdf).unwrap();
        }
        assert!(pdf.starts_with(b"%PDF-"));
        // The font is subset, not embedded whole (the WenQuanYi file alone is 5 MB).
        assert!(pdf.len() < 2_000_000, "{} bytes", pdf.len());
        let Some(text) = pdf_text(&pdf) else { return };
        for needle in [
            "评标报告",
            "滨江新区污水处理厂扩建工程施工招标",
            "评标委员会",
            "初步评审",
            "投标函未加盖公章",
            "价格评分、汇总与排名",
            "第一中标候选人",
            "待签署",
            s.sha256.as_str(),
        ] {
            assert!(text.contains(needle), "{needle} missing from the PDF text");
        }
        for i in 1..=5 {
            assert!(text.contains(&format!("评委{i}")));
        }
        for i in 1..=20 {
            assert!(text.contains(&format!("投标人公司{i}")));
        }
        // Every score (19 scored bids × 5 members × 10 criteria) is on some page.
        let words: std::collections::BTreeSet<&str> = text.split_whitespace().collect();
        for m in 0..5 {
            for b in 0..19 {
                for c in 0..10 {
                    let p = points(score(m, b, c));
                    assert!(words.contains(p.as_str()), "score {p} missing");
                }
            }
        }
        let pages = text.matches('\u{c}').count();
        assert!(pages > 3, "{pages} pages");
    }

    #[test]
    fn a_configured_font_that_does_not_exist_is_a_clear_error() {
        let config = Config {
            report_font: Some("/nonexistent/font.ttf".into()),
            ..Config::default()
        };
        let Err(e) = find_font(&config) else {
            panic!("a missing font file must not load")
        };
        assert!(matches!(e, ReportError::FontMissing));
        let msg = e.to_string();
        assert!(
            msg.contains("report_font") && msg.contains("fonts-wqy-microhei"),
            "{msg}"
        );
        assert!(msg.contains("中文字体"));
        // A file that is not a font is no better.
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("x.ttf");
        std::fs::write(&bogus, b"not a font").unwrap();
        let config = Config {
            report_font: Some(bogus),
            ..Config::default()
        };
        assert!(matches!(find_font(&config), Err(ReportError::FontMissing)));
    }

    #[test]
    fn long_text_wraps_within_the_width() {
        let Some(font) = font_or_skip() else { return };
        let mut sh = Shaper::new(&font).unwrap();
        let text = "评标委员会成员拒绝在评标报告上签字又不书面说明其不同意见和理由的，视为同意评标结果 A member who neither signs nor dissents is deemed to agree.";
        let lines = sh.wrap(text, 10.0, 120.0);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(sh.width(l, 10.0) <= 120.0 + 0.01, "{l}");
        }
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
    }
}
