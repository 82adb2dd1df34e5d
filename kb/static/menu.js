// The header's menus are <details> elements and work without this script. With it, an open
// menu closes on Escape (focus goes back to its summary), on a click or focus elsewhere, and
// when the other menu opens, as people expect of a menu.
(function () {
  "use strict";
  const menus = Array.from(document.querySelectorAll("details.header-menu"));
  if (!menus.length) return;

  function closeOthers(keep) {
    menus.forEach((menu) => { if (menu !== keep) menu.open = false; });
  }

  menus.forEach((menu) => {
    menu.addEventListener("toggle", () => { if (menu.open) closeOthers(menu); });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
    menu.addEventListener("focusout", (event) => {
      // relatedTarget is null for a click on plain text inside the menu: keep it open then.
      if (event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
    });
  });

  document.addEventListener("click", (event) => {
    menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });
})();
