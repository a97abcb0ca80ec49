// Resumable uploads (tus 1.0) for every [data-uploader] section: one tus-js-client upload per
// file, with a progress bar, pause/resume, and resuming after a reload (tus-js-client keeps
// each unfinished upload's address in localStorage, keyed by the fingerprint below).
(function () {
  "use strict";

  // A whole number of the server's 1 MiB encryption chunks: every request but the last
  // ends on a chunk boundary, so the server keeps all of it.
  var CHUNK_SIZE = 64 * 1024 * 1024;
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(sent, total) {
    return total === 0 ? 100 : Math.floor((sent / total) * 100);
  }

  function setup(root) {
    var data = root.dataset;
    var input = root.querySelector("[data-upload-input]");
    var message = root.querySelector("[data-upload-message]");
    var list = root.querySelector("[data-upload-list]");
    var button = root.querySelector("[data-upload-start]");
    if (typeof tus === "undefined" || !tus.isSupported) {
      button.disabled = true;
      return;
    }
    button.addEventListener("click", function () {
      Array.prototype.forEach.call(input.files, function (file) {
        start(file, message.value);
      });
      input.value = "";
    });

    function start(file, versionMessage) {
      var item = element("li", "upload-item");
      var name = element("span", "upload-name", file.name);
      var bar = element("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var figure = element("span", "upload-percent", "0 %");
      var toggle = element("button", "secondary", data.labelPause);
      toggle.type = "button";
      var status = element("span", "upload-status");
      item.append(name, bar, figure, toggle, status);
      list.append(item);

      var metadata = { filename: file.name };
      if (data.object) metadata.object = data.object;
      if (data.record) metadata.record = data.record;
      if (versionMessage) metadata.message = versionMessage;

      var running = true;
      var upload = new tus.Upload(file, {
        endpoint: data.endpoint,
        metadata: metadata,
        headers: { "X-CSRF-Token": data.csrfToken },
        chunkSize: CHUNK_SIZE,
        retryDelays: RETRY_DELAYS,
        removeFingerprintOnSuccess: true,
        // The same file to the same place continues; anything else is a new upload.
        fingerprint: function (f) {
          return Promise.resolve(
            ["heritage-tus", data.endpoint, data.object, data.record, f.name, f.size, f.lastModified].join("|")
          );
        },
        onProgress: function (sent, total) {
          var value = percent(sent, total);
          bar.value = value;
          figure.textContent = value + " %";
        },
        onSuccess: function (payload) {
          bar.value = 100;
          figure.textContent = "100 %";
          toggle.remove();
          status.textContent = data.labelDone + " ";
          var response = payload && payload.lastResponse;
          var objectId = response && response.getHeader("Heritage-Object");
          if (objectId) {
            var link = element("a", "", data.labelOpen);
            link.href = data.record
              ? "/records/" + data.record
              : data.endpoint.replace(/^\/api\//, "/").replace(/\/uploads$/, "/objects/") + objectId;
            status.append(link);
          }
          item.classList.add("done");
        },
        onError: function (error) {
          running = false;
          toggle.textContent = data.labelResume;
          var response = error.originalResponse;
          var detail = "";
          if (response) {
            try {
              detail = JSON.parse(response.getBody()).detail || "";
            } catch (ignored) {
              detail = "";
            }
          }
          status.textContent = data.labelFailed + (detail ? ": " + detail : "");
          item.classList.add("failed");
        },
      });

      toggle.addEventListener("click", function () {
        if (running) {
          upload.abort();
          toggle.textContent = data.labelResume;
        } else {
          status.textContent = "";
          item.classList.remove("failed");
          upload.start();
          toggle.textContent = data.labelPause;
        }
        running = !running;
      });

      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) {
          upload.resumeFromPreviousUpload(previous[0]);
          status.textContent = data.labelResumed;
        }
        upload.start();
      });
    }
  }

  document.querySelectorAll("[data-uploader]").forEach(setup);
})();
