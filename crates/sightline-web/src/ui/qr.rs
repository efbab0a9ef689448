//! QR codes drawn by the server as SVG (no script, no image request, no
//! third party): one path of unit squares, one per dark module.

use qrcodegen::{QrCode, QrCodeEcc};

/// `text` as an inline SVG QR code, or `None` when it does not fit one.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let border = 4;
    let side = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" id=\"totp-qr\" viewBox=\"0 0 {side} {side}\" width=\"{w}\" height=\"{w}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code for your authenticator app\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        w = side * 5
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uri_becomes_an_svg_of_squares_and_nothing_else() {
        let svg =
            super::svg("otpauth://totp/Sightline:a%40b.c?secret=JBSWY3DPEHPK3PXP&issuer=Sightline")
                .unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("<path d=\"M"));
        assert!(!svg.contains("<script") && !svg.contains("style="));
        // Too long for any QR code: no code, not a broken one.
        assert!(super::svg(&"x".repeat(8000)).is_none());
    }
}
