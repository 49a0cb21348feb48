//! What a request asks to judge: a multipart form (`image` file, or `url`; `csrf` from the
//! page), a raw `image/*` body, or JSON `{"url": ...}`. The body was already read under the
//! listener's byte cap; here it is only taken apart.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use ispotato_core::image::ImageSource;
use ispotato_core::prelude::{ImageInput, NamedImage, Refusal};

/// Fields a form may carry before it is refused (the page sends five).
const MAX_FIELDS: usize = 16;
/// Longest URL or token accepted in a form field.
const MAX_TEXT_FIELD: usize = 4096;

/// An uploaded file.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The parts of a request the judge needs.
#[derive(Default)]
pub struct Submitted {
    /// The CSRF token a form carried.
    pub csrf: Option<String>,
    pub image: Option<Upload>,
    pub url: Option<String>,
}

impl Submitted {
    /// The image to judge: the file when one was given, else the URL.
    pub fn into_image(self) -> Result<NamedImage, Refusal> {
        if let Some(upload) = self.image {
            let bytes = upload.bytes;
            return Ok(NamedImage {
                name: upload.name,
                input: ImageInput::Download(Box::pin(async move { Ok(bytes) })),
            });
        }
        match self.url {
            Some(url) => Ok(NamedImage {
                name: url.clone(),
                input: ImageInput::Source(ImageSource::Url(url)),
            }),
            None => Err(no_image()),
        }
    }
}

fn no_image() -> Refusal {
    Refusal::declined(
        "no_image",
        "I didn't get an image: choose a photo or give its web address",
    )
}

fn bad_request(what: &str) -> Refusal {
    Refusal::declined("bad_request", format!("that request could not be read ({what})"))
}

/// Takes the request apart by its content type.
pub async fn read(request: Request) -> Result<Submitted, Refusal> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim().to_string();
    match essence.as_str() {
        "multipart/form-data" => read_multipart(request).await,
        "application/json" => read_json(request).await,
        "application/x-www-form-urlencoded" => read_urlencoded(request).await,
        t if t.starts_with("image/") => {
            let bytes = body_bytes(request).await?;
            Ok(Submitted {
                image: (!bytes.is_empty()).then(|| Upload {
                    name: "upload".into(),
                    bytes,
                }),
                ..Submitted::default()
            })
        }
        _ => Err(Refusal::declined(
            "unsupported_media_type",
            "send the image as multipart/form-data (field \"image\"), as an image/* body, or JSON {\"url\": ...}",
        )),
    }
}

async fn body_bytes(request: Request) -> Result<Vec<u8>, Refusal> {
    axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| bad_request("the body"))
}

async fn read_multipart(request: Request) -> Result<Submitted, Refusal> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|_| bad_request("the form's boundary"))?;
    let mut submitted = Submitted::default();
    let mut fields = 0;
    while let Some(field) = form.next_field().await.map_err(|_| bad_request("a form field"))? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(bad_request("too many fields"));
        }
        match field.name().unwrap_or("") {
            "image" if submitted.image.is_none() => {
                let name = field
                    .file_name()
                    .map(clean_name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "upload".into());
                let bytes = field.bytes().await.map_err(|_| bad_request("the image field"))?;
                // A file input left empty still sends an empty part.
                if !bytes.is_empty() {
                    submitted.image = Some(Upload {
                        name,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            "url" => submitted.url = text_field(field.text().await.map_err(|_| bad_request("the url field"))?)?,
            "csrf" => submitted.csrf = text_field(field.text().await.map_err(|_| bad_request("the csrf field"))?)?,
            _ => {}
        }
    }
    Ok(submitted)
}

/// A trimmed text field, `None` when empty.
fn text_field(text: String) -> Result<Option<String>, Refusal> {
    let text = text.trim();
    if text.len() > MAX_TEXT_FIELD {
        return Err(bad_request("a field is too long"));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// A file name to show: its last path part, printable characters only, at most 80 of them.
fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars().filter(|c| !c.is_control()).take(80).collect()
}

#[derive(serde::Deserialize)]
struct UrlRequest {
    url: String,
}

async fn read_json(request: Request) -> Result<Submitted, Refusal> {
    let bytes = body_bytes(request).await?;
    let body: UrlRequest = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::declined("bad_request", "the JSON body must be {\"url\": \"https://...\"}"))?;
    Ok(Submitted {
        url: text_field(body.url)?,
        ..Submitted::default()
    })
}

#[derive(serde::Deserialize)]
struct UrlForm {
    url: Option<String>,
    csrf: Option<String>,
}

async fn read_urlencoded(request: Request) -> Result<Submitted, Refusal> {
    let axum::Form(form) = axum::Form::<UrlForm>::from_request(request, &())
        .await
        .map_err(|_| bad_request("the form"))?;
    Ok(Submitted {
        url: form.url.map(text_field).transpose()?.flatten(),
        csrf: form.csrf.map(text_field).transpose()?.flatten(),
        image: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_are_the_last_part_without_control_characters() {
        assert_eq!(clean_name("C:\\Users\\me\\spud.jpg"), "spud.jpg");
        assert_eq!(clean_name("../../x\u{7}.png"), "x.png");
        assert_eq!(clean_name(&"a".repeat(200)).len(), 80);
    }
}
