//! Why the model decided: a class activation map. The head is linear over the globally pooled
//! last feature map, so the logit is the mean over the map's cells of `w · cell` plus the bias:
//! each cell's share of the evidence is one dot product. The serving graph yields that map
//! beside the pooled features ([`global_pool_input`] finds it; on onnxruntime it becomes a
//! second output), the classifier weighs it into [`Evidence`], which renders itself blended
//! over the image as the model saw it.

use image::{Rgb, RgbImage};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{ensure, format_err};
use tract_onnx::tract_core::ops::nn::Reduce;

use crate::model::card::LinearHead;

/// The value the backbone's global pool reduces (the last reduction over a 4-D value): the
/// last feature map, `[1, C, H, W]`.
pub(crate) fn global_pool_input(model: &TypedModel) -> TractResult<OutletId> {
    let map = model
        .eval_order()?
        .into_iter()
        .rev()
        .map(|id| model.node(id))
        .find(|n| n.op_is::<Reduce>() && !n.inputs.is_empty())
        .map(|n| n.inputs[0])
        .ok_or_else(|| format_err!("the backbone has no global pool to explain"))?;
    let rank = model.outlet_fact(map)?.rank();
    ensure!(rank == 4, "the pooled value has rank {rank}, not 4");
    Ok(map)
}

/// Each cell's evidence for "potato": the head's weights applied to the feature map at that
/// cell (logit units, before calibration). Rows top to bottom, columns left to right.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub rows: usize,
    pub cols: usize,
    pub cells: Vec<f32>,
    pub bias: f32,
}

impl Evidence {
    /// Weighs a `[1, C, H, W]` feature map with `head`: one dot product per cell.
    pub fn from_map(map: tract_ndarray::ArrayViewD<f32>, head: &LinearHead) -> Result<Self, String> {
        let shape = map.shape();
        let channels = head.weights.len();
        if shape.len() != 4 || shape[0] != 1 || shape[1] != channels {
            return Err(format!(
                "the feature map is {shape:?}, the head weighs {channels} channels"
            ));
        }
        let (rows, cols) = (shape[2], shape[3]);
        let mut cells = vec![0f32; rows * cols];
        for (c, w) in head.weights.iter().enumerate() {
            for y in 0..rows {
                for x in 0..cols {
                    cells[y * cols + x] += w * map[[0, c, y, x]];
                }
            }
        }
        Ok(Self {
            rows,
            cols,
            cells,
            bias: head.bias,
        })
    }

    /// The head's logit for the whole image: the mean of the cells plus the bias (what
    /// [`Classifier`](crate::model::Classifier) scales by the card's temperature).
    pub fn logit(&self) -> f32 {
        self.cells.iter().sum::<f32>() / self.cells.len().max(1) as f32 + self.bias
    }

    /// The cell with the most potato evidence, as (row, column).
    pub fn peak(&self) -> (usize, usize) {
        let best = self
            .cells
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        (best / self.cols.max(1), best % self.cols.max(1))
    }

    /// A cell's logit were the whole image like it: its evidence plus the bias. Positive
    /// leans "potato", negative "not potato".
    fn leaning(&self, row: usize, col: usize) -> f32 {
        self.cells[row * self.cols + col] + self.bias
    }

    /// The evidence at a point of a `width x height` image, bilinear between cell centres.
    fn at(&self, x: u32, y: u32, width: u32, height: u32) -> f32 {
        let axis = |p: u32, size: u32, cells: usize| {
            let f = ((p as f32 + 0.5) * cells as f32 / size as f32 - 0.5).clamp(0.0, (cells - 1) as f32);
            let lo = f.floor() as usize;
            (lo, (lo + 1).min(cells - 1), f - lo as f32)
        };
        let (y0, y1, fy) = axis(y, height, self.rows);
        let (x0, x1, fx) = axis(x, width, self.cols);
        let row = |r| self.leaning(r, x0) * (1.0 - fx) + self.leaning(r, x1) * fx;
        row(y0) * (1.0 - fy) + row(y1) * fy
    }

    /// `view` with the evidence laid over it: red where a region leans "potato", blue where
    /// it leans "not potato", more opaque the stronger it leans (scaled to this image's
    /// strongest cell), untouched where a region is neutral.
    pub fn overlay(&self, view: &RgbImage) -> RgbImage {
        const POTATO: [f32; 3] = [230.0, 40.0, 20.0];
        const NOT_POTATO: [f32; 3] = [20.0, 90.0, 240.0];
        const MAX_ALPHA: f32 = 0.65;
        let mut out = view.clone();
        if self.cells.is_empty() {
            return out;
        }
        let strongest = (0..self.rows)
            .flat_map(|r| (0..self.cols).map(move |c| (r, c)))
            .map(|(r, c)| self.leaning(r, c).abs())
            .fold(f32::EPSILON, f32::max);
        let (width, height) = view.dimensions();
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            let v = self.at(x, y, width, height);
            let colour = if v >= 0.0 { POTATO } else { NOT_POTATO };
            let alpha = MAX_ALPHA * (v.abs() / strongest).min(1.0);
            *pixel = Rgb(std::array::from_fn(|i| {
                (pixel.0[i] as f32 * (1.0 - alpha) + colour[i] * alpha).round() as u8
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(cells: Vec<f32>, bias: f32) -> Evidence {
        Evidence {
            rows: 2,
            cols: 2,
            cells,
            bias,
        }
    }

    #[test]
    fn the_logit_is_the_mean_of_the_cells_plus_the_bias() {
        assert_eq!(evidence(vec![1.0, 2.0, 3.0, 6.0], -1.0).logit(), 2.0);
    }

    #[test]
    fn the_peak_is_the_strongest_potato_cell() {
        assert_eq!(evidence(vec![0.0, -5.0, 4.0, 3.0], 0.0).peak(), (1, 0));
    }

    #[test]
    fn the_overlay_reddens_potato_regions_and_blues_the_rest() {
        let view = RgbImage::from_pixel(64, 64, Rgb([128, 128, 128]));
        let out = evidence(vec![4.0, 0.0, 0.0, -4.0], 0.0).overlay(&view);
        let top_left = out.get_pixel(2, 2).0;
        let bottom_right = out.get_pixel(61, 61).0;
        let neutral = out.get_pixel(61, 2).0;
        assert!(top_left[0] > 180 && top_left[2] < 80, "{top_left:?}");
        assert!(bottom_right[2] > 180 && bottom_right[0] < 80, "{bottom_right:?}");
        assert_eq!(neutral, [128, 128, 128]);
        assert_eq!(out.dimensions(), view.dimensions());
    }
}
