//! A bit-exact port of Pillow's 8-bit convolution resampling (`Resample.c`) for the bilinear
//! filter, so serving sees exactly the pixels training saw (`PIL.Image.resize(..., BILINEAR)`).
//!
//! The filter is separable and every output pixel's coefficients depend only on its own
//! coordinate, so computing just the centre-crop window of the resized image gives the same
//! numbers as resizing everything and cropping, for a fraction of the work.

use image::RgbImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// A window of the resized image: `width` x `height` output pixels starting at (`left`, `top`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// Per output coordinate: first input index, number of taps, fixed-point weights.
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    weights: Vec<i32>,
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box [0, in_size).
fn coeffs(in_size: u32, out_size: u32) -> Coeffs {
    let scale = (in_size as f32 as f64) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support is 1.0
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size as usize);
    let mut weights = vec![0i32; out_size as usize * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size as usize {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let taps = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(taps) {
            let w = bilinear((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(taps) {
            let w = if ww != 0.0 { kx / ww } else { *kx };
            let fixed = w * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if w < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, taps));
    }
    Coeffs { bounds, ksize, weights }
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes `src` to `out_w` x `out_h` with Pillow's bilinear filter and returns only `window`.
pub fn resize_window(src: &RgbImage, out_w: u32, out_h: u32, window: Window) -> RgbImage {
    let (in_w, in_h) = src.dimensions();
    let need_h = out_w != in_w;
    let need_v = out_h != in_h;
    let raw = src.as_raw();
    let half = 1i64 << (PRECISION_BITS - 1);
    let cols = window.left as usize..(window.left + window.width) as usize;
    let rows = window.top as usize..(window.top + window.height) as usize;

    // Which source rows the vertical pass reads for the window's rows.
    let vert = need_v.then(|| coeffs(in_h, out_h));
    let (first_row, last_row) = match &vert {
        Some(v) => {
            let first = rows.clone().map(|r| v.bounds[r].0).min().unwrap_or(0);
            let last = rows.clone().map(|r| v.bounds[r].0 + v.bounds[r].1).max().unwrap_or(0);
            (first, last)
        }
        None => (rows.start, rows.end),
    };

    // Horizontal pass over the needed rows, only the window's columns, into 8-bit temp rows.
    let temp_w = cols.len();
    let mut temp = vec![0u8; (last_row - first_row) * temp_w * 3];
    if need_h {
        let h = coeffs(in_w, out_w);
        for (ti, y) in (first_row..last_row).enumerate() {
            let row = &raw[y * in_w as usize * 3..(y + 1) * in_w as usize * 3];
            for (tx, xx) in cols.clone().enumerate() {
                let (xmin, taps) = h.bounds[xx];
                let k = &h.weights[xx * h.ksize..xx * h.ksize + taps];
                let mut ss = [half; 3];
                for (x, &w) in k.iter().enumerate() {
                    let p = &row[(xmin + x) * 3..(xmin + x) * 3 + 3];
                    for c in 0..3 {
                        ss[c] += p[c] as i64 * w as i64;
                    }
                }
                let o = (ti * temp_w + tx) * 3;
                for c in 0..3 {
                    temp[o + c] = clip8(ss[c]);
                }
            }
        }
    } else {
        for (ti, y) in (first_row..last_row).enumerate() {
            let start = (y * in_w as usize + cols.start) * 3;
            temp[ti * temp_w * 3..(ti + 1) * temp_w * 3].copy_from_slice(&raw[start..start + temp_w * 3]);
        }
    }

    // Vertical pass for the window's rows.
    let mut out = vec![0u8; window.width as usize * window.height as usize * 3];
    for (oy, yy) in rows.clone().enumerate() {
        match &vert {
            Some(v) => {
                let (ymin, taps) = v.bounds[yy];
                let k = &v.weights[yy * v.ksize..yy * v.ksize + taps];
                for tx in 0..temp_w {
                    let mut ss = [half; 3];
                    for (y, &w) in k.iter().enumerate() {
                        let o = ((ymin - first_row + y) * temp_w + tx) * 3;
                        for c in 0..3 {
                            ss[c] += temp[o + c] as i64 * w as i64;
                        }
                    }
                    let o = (oy * temp_w + tx) * 3;
                    for c in 0..3 {
                        out[o + c] = clip8(ss[c]);
                    }
                }
            }
            None => {
                let src_row = yy - first_row;
                out[oy * temp_w * 3..(oy + 1) * temp_w * 3]
                    .copy_from_slice(&temp[src_row * temp_w * 3..(src_row + 1) * temp_w * 3]);
            }
        }
    }
    match RgbImage::from_raw(window.width, window.height, out) {
        Some(img) => img,
        None => unreachable!("buffer is width*height*3 bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32) -> RgbImage {
        let mut s = 12345u32;
        RgbImage::from_fn(w, h, |_, _| {
            let mut px = [0u8; 3];
            for p in &mut px {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *p = (s >> 16) as u8;
            }
            image::Rgb(px)
        })
    }

    #[test]
    fn a_window_equals_the_same_region_of_the_full_resize() {
        let src = noise(123, 77);
        let full = resize_window(
            &src,
            60,
            40,
            Window {
                left: 0,
                top: 0,
                width: 60,
                height: 40,
            },
        );
        let part = resize_window(
            &src,
            60,
            40,
            Window {
                left: 7,
                top: 5,
                width: 30,
                height: 20,
            },
        );
        for y in 0..20 {
            for x in 0..30 {
                assert_eq!(part.get_pixel(x, y), full.get_pixel(x + 7, y + 5));
            }
        }
    }

    #[test]
    fn same_size_is_a_crop_and_flat_colours_stay_flat() {
        let src = noise(50, 40);
        let out = resize_window(
            &src,
            50,
            40,
            Window {
                left: 3,
                top: 2,
                width: 10,
                height: 10,
            },
        );
        assert_eq!(out.get_pixel(0, 0), src.get_pixel(3, 2));
        let flat = RgbImage::from_pixel(97, 61, image::Rgb([10, 128, 250]));
        let out = resize_window(
            &flat,
            33,
            20,
            Window {
                left: 0,
                top: 0,
                width: 33,
                height: 20,
            },
        );
        assert!(out.pixels().all(|p| p.0 == [10, 128, 250]));
        let up = resize_window(
            &flat,
            300,
            200,
            Window {
                left: 0,
                top: 0,
                width: 300,
                height: 200,
            },
        );
        assert!(up.pixels().all(|p| p.0 == [10, 128, 250]));
    }
}
