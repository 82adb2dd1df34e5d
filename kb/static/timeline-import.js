// Choosing imported timeline entries: "Select all" and "Select none", and a count of the
// chosen ones beside the button. Without this script every box still works on its own.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.getElementById("timeline-choice");
  if (!form) {
    return;
  }
  var boxes = form.querySelectorAll('input[type="checkbox"][name="entry"]');
  var count = document.getElementById("chosen-count");
  function update() {
    var chosen = 0;
    boxes.forEach(function (box) {
      if (box.checked) {
        chosen += 1;
      }
    });
    count.textContent = chosen + " of " + boxes.length + " chosen";
  }
  form.querySelectorAll("[data-select]").forEach(function (button) {
    button.addEventListener("click", function () {
      var all = button.getAttribute("data-select") === "all";
      boxes.forEach(function (box) {
        box.checked = all;
      });
      update();
    });
  });
  form.addEventListener("change", update);
  update();
})();
