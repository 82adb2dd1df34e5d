// The digest preview: grow the e-mail's frame to its content, so the page scrolls once.
// The frame is sandboxed without scripts; allow-same-origin lets us read its height.
(function () {
  "use strict";
  document.querySelectorAll("iframe.digest-frame").forEach(function (frame) {
    function fit() {
      try {
        var doc = frame.contentDocument;
        if (doc && doc.documentElement) {
          frame.style.height = doc.documentElement.scrollHeight + 2 + "px";
        }
      } catch (err) {
        // Not readable: keep the stylesheet's height and let the frame scroll.
      }
    }
    frame.addEventListener("load", fit);
    window.addEventListener("resize", fit);
    fit();
  });
})();
