// IsPotato's page script: the same form posts as without it, answered in place, with a
// progress bar; drag and drop, paste, and a preview of the chosen photo. No third-party code.
(function () {
  "use strict";
  var form = document.getElementById("judge");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var fileInput = document.getElementById("image");
  var camera = document.getElementById("camera");
  var urlInput = document.getElementById("url");
  var drop = document.getElementById("drop");
  var preview = document.getElementById("preview");
  var progress = document.getElementById("progress");
  var bar = document.getElementById("progress-bar");
  var status = document.getElementById("status");
  var submit = document.getElementById("submit");
  var csrf = document.querySelector("meta[name=csrf-token]");
  var previewUrl = null;

  function result() { return document.getElementById("result"); }

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = file ? URL.createObjectURL(file) : null;
    preview.hidden = !file;
    if (file) preview.src = previewUrl;
  }

  // Puts a dropped or pasted file into the form's file input and sends it.
  function useFile(file) {
    if (!file || !/^image\//.test(file.type)) {
      status.textContent = "That doesn't look like an image.";
      return;
    }
    try {
      var dt = new DataTransfer();
      dt.items.add(file);
      fileInput.files = dt.files;
    } catch (e) {
      status.textContent = "Your browser can't take a dropped file here; use the button.";
      return;
    }
    if (camera) camera.value = "";
    showPreview(file);
    send();
  }

  function replaceResult(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#result") || holder.firstElementChild;
    var old = result();
    if (old && fresh) old.replaceWith(fresh); else if (fresh) form.parentNode.after(fresh);
    if (fresh) fresh.focus();
  }

  function busy(on, text) {
    submit.disabled = on;
    progress.hidden = !on;
    status.textContent = text || "";
  }

  function send() {
    var data = new FormData(form);
    // Only one "image": the camera's if it has one, else the chooser's.
    if (camera && camera.files && camera.files.length) {
      data.delete("image");
      data.append("image", camera.files[0]);
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "fetch");
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf.content);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.upload.onload = function () {
      bar.removeAttribute("value");
      status.textContent = "Judging…";
    };
    xhr.onload = function () {
      busy(false);
      replaceResult(xhr.responseText);
    };
    xhr.onerror = function () {
      busy(false, "The upload failed; check your connection and try again.");
    };
    bar.value = 0;
    busy(true, "Uploading…");
    xhr.send(data);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var hasFile = (fileInput.files && fileInput.files.length) || (camera && camera.files && camera.files.length);
    if (!hasFile && !urlInput.value.trim()) {
      status.textContent = "Choose a photo or give its web address first.";
      fileInput.focus();
      return;
    }
    send();
  });

  fileInput.addEventListener("change", function () {
    if (fileInput.files && fileInput.files.length) {
      if (camera) camera.value = "";
      showPreview(fileInput.files[0]);
      send();
    }
  });
  if (camera) camera.addEventListener("change", function () {
    if (camera.files && camera.files.length) {
      fileInput.value = "";
      showPreview(camera.files[0]);
      send();
    }
  });

  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    drop.addEventListener(type, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) useFile(e.dataTransfer.files[0]);
  });

  document.addEventListener("paste", function (e) {
    var files = e.clipboardData && e.clipboardData.files;
    if (files && files.length) {
      e.preventDefault();
      useFile(files[0]);
    }
  });

  // Votes: the same form post, answered in place.
  document.addEventListener("submit", function (e) {
    var vote = e.target;
    if (!vote.classList || !vote.classList.contains("vote")) return;
    e.preventDefault();
    var data = new FormData(vote);
    if (e.submitter && e.submitter.name) data.append(e.submitter.name, e.submitter.value);
    var buttons = vote.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(vote.action, {
      method: "POST",
      body: new URLSearchParams(data),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    }).then(function (r) { return r.text(); }).then(function (html) {
      var answer = vote.querySelector(".vote-answer") || document.createElement("div");
      answer.className = "vote-answer";
      answer.innerHTML = html;
      vote.appendChild(answer);
      buttons.forEach(function (b) { b.disabled = false; });
    }).catch(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();
