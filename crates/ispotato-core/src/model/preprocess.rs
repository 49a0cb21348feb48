//! The serving preprocessing recipe (the model card's `input`): RGB, shorter side resized with
//! Pillow's antialiased bilinear filter (bit-exact, see [`pillow_resize`](crate::model::pillow_resize)),
//! centre crop, `(pixel - mean) / std`, NCHW. Only the crop window of the resized image is
//! computed.
//!
//! `training/recipe.py` is the independent reference; the parity test checks the two agree
//! within 1e-4 on fixed images.

use image::RgbImage;
use tract_onnx::prelude::tract_ndarray::Array4;

use crate::model::card::InputRecipe;
use crate::model::pillow_resize::{resize_window, Window};

/// Size after resizing the shorter side to `shorter` (longer side rounded down, as
/// torchvision's `Resize(int)` does).
pub fn resized_dims(width: u32, height: u32, shorter: u32) -> (u32, u32) {
    if width <= height {
        (shorter, ((shorter as u64 * height as u64) / width as u64) as u32)
    } else {
        (((shorter as u64 * width as u64) / height as u64) as u32, shorter)
    }
}

/// Offset of a centred crop of `crop` pixels in `size` (round half to even, like Python's `round`).
pub fn centre_offset(size: u32, crop: u32) -> u32 {
    ((size as f64 - crop as f64) / 2.0).round_ties_even().max(0.0) as u32
}

/// The centre-crop window of the image resized to `recipe.resize_shorter`, as 8-bit RGB.
pub fn resize_and_crop(rgb: &RgbImage, recipe: &InputRecipe) -> RgbImage {
    let (nw, nh) = resized_dims(rgb.width(), rgb.height(), recipe.resize_shorter);
    let window = Window {
        left: centre_offset(nw, recipe.width),
        top: centre_offset(nh, recipe.height),
        width: recipe.width.min(nw),
        height: recipe.height.min(nh),
    };
    resize_window(rgb, nw, nh, window)
}

/// The full recipe: resize, centre crop, normalise, NCHW float tensor of shape [1, 3, H, W].
pub fn preprocess(rgb: &RgbImage, recipe: &InputRecipe) -> Array4<f32> {
    tensor_from_crop(&resize_and_crop(rgb, recipe), recipe)
}

/// The normalised NCHW tensor of a crop [`resize_and_crop`] made.
pub fn tensor_from_crop(crop: &RgbImage, recipe: &InputRecipe) -> Array4<f32> {
    let (cw, ch) = (recipe.width as usize, recipe.height as usize);
    let mut tensor = Array4::<f32>::zeros((1, 3, ch, cw));
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / recipe.std[c]);
    for (x, y, px) in crop.enumerate_pixels() {
        for c in 0..3 {
            tensor[[0, c, y as usize, x as usize]] = (px[c] as f32 - recipe.mean[c]) * scale[c];
        }
    }
    tensor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_aspect_and_floors_the_long_side() {
        assert_eq!(resized_dims(4096, 2304, 256), (455, 256));
        assert_eq!(resized_dims(2304, 4096, 256), (256, 455));
        assert_eq!(resized_dims(300, 200, 256), (384, 256));
        assert_eq!(resized_dims(256, 256, 256), (256, 256));
        assert_eq!(resized_dims(201, 350, 256), (256, 445));
    }

    #[test]
    fn centre_crop_rounds_half_to_even() {
        assert_eq!(centre_offset(256, 224), 16);
        assert_eq!(centre_offset(257, 224), 16); // 16.5 -> 16
        assert_eq!(centre_offset(259, 224), 18); // 17.5 -> 18
        assert_eq!(centre_offset(224, 224), 0);
    }

    #[test]
    fn normalisation_maps_pixels_to_the_card_range() {
        let recipe = InputRecipe::default();
        let img = RgbImage::from_fn(256, 256, |x, _| {
            if x < 128 {
                image::Rgb([0, 127, 255])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let t = preprocess(&img, &recipe);
        assert_eq!(t.shape(), &[1, 3, 224, 224]);
        assert_eq!(t[[0, 0, 0, 0]], -127.0 / 128.0);
        assert_eq!(t[[0, 1, 0, 0]], 0.0);
        assert_eq!(t[[0, 2, 0, 0]], 1.0);
        assert_eq!(t[[0, 0, 0, 223]], 1.0);
    }

    #[test]
    fn the_card_sets_the_input_size() {
        // EfficientNet-Lite2's recipe (training/recipe.py, ISPOTATO_ARCH=lite2): shorter side 297,
        // crop 260. A 400x300 image, black left of x = 200, white right of it, resizes to 396x297;
        // the crop starts at x = 68, so the edge lands near column 130 of the crop.
        let recipe = InputRecipe {
            width: 260,
            height: 260,
            resize_shorter: 297,
            ..InputRecipe::default()
        };
        assert_eq!(resized_dims(400, 300, 297), (396, 297));
        assert_eq!(centre_offset(396, 260), 68);
        let img = RgbImage::from_fn(400, 300, |x, _| image::Rgb([if x < 200 { 0 } else { 255 }; 3]));
        let t = preprocess(&img, &recipe);
        assert_eq!(t.shape(), &[1, 3, 260, 260]);
        assert_eq!(t[[0, 0, 259, 126]], -127.0 / 128.0);
        assert_eq!(t[[0, 2, 0, 134]], 1.0);
        assert!(t[[0, 1, 100, 130]] > -127.0 / 128.0 && t[[0, 1, 100, 130]] < 1.0);
    }
}
