//! Any decoded image to RGB8, alpha composited over white (transparent stickers would otherwise
//! turn black), converting in place where the layout allows so no second full-size copy is held.

use image::{DynamicImage, RgbImage};

pub(super) fn to_rgb(image: DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageRgba8(rgba) => rgba_in_place(rgba),
        other if other.color().has_alpha() => rgba_in_place(other.into_rgba8()),
        other => other.into_rgb8(),
    }
}

/// Composites each RGBA pixel over white into the first three quarters of the same buffer:
/// pixel `i` is written at `3i`, never past where pixel `i` was read from (`4i`).
fn rgba_in_place(rgba: image::RgbaImage) -> RgbImage {
    let (width, height) = rgba.dimensions();
    let mut raw = rgba.into_raw();
    let pixels = raw.len() / 4;
    for i in 0..pixels {
        let [r, g, b, a] = [raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]];
        raw[3 * i] = over_white(r, a);
        raw[3 * i + 1] = over_white(g, a);
        raw[3 * i + 2] = over_white(b, a);
    }
    raw.truncate(3 * pixels);
    raw.shrink_to_fit();
    RgbImage::from_raw(width, height, raw).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Integer over-white compositing, rounded: c*a/255 + 255*(255-a)/255.
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (c as u32, a as u32);
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_over_white_in_place() {
        let mut rgba = image::RgbaImage::new(3, 2);
        rgba.put_pixel(0, 0, image::Rgba([200, 10, 30, 255]));
        rgba.put_pixel(1, 0, image::Rgba([200, 10, 30, 0]));
        rgba.put_pixel(2, 1, image::Rgba([0, 0, 0, 128]));
        let rgb = to_rgb(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.dimensions(), (3, 2));
        assert_eq!(rgb.get_pixel(0, 0).0, [200, 10, 30]);
        assert_eq!(rgb.get_pixel(1, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(2, 1).0, [127, 127, 127]);
        assert_eq!(rgb.as_raw().capacity(), 18, "the spare quarter is given back");
    }
}
