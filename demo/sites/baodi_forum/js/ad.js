/* baodi_forum ad loader (demo). The ad text is a JS string with \u escapes, so it is not in the
   page's HTML: only a crawler that runs JavaScript (render: true) sees it in the DOM. */
(function () {
  var html = "<p><strong>\u5b9d\u5bcc\u7406\u8d22 \u6708\u606f2\u5206 \u7a33\u8d5a\u4e0d\u8d54</strong></p><p>\u4e94\u4e07\u8d77\u6295\uff0c\u6bcf\u6708\u4ed8\u606f\uff0c\u4e00\u5e74\u56de\u672c\uff0c\u63a8\u8350\u4eb2\u53cb\u518d\u52a0\u5343\u5206\u4e4b\u4e94\u5956\u52b1\u3002\u54a8\u8be2\uff1a022-29589876 \u5468\u7ecf\u7406</p>";
  document.addEventListener("DOMContentLoaded", function () {
    var slot = document.getElementById("ad-top");
    if (!slot) { return; }
    var ad = document.createElement("div");
    ad.className = "ad-slot";
    ad.innerHTML = html;
    slot.appendChild(ad);
  });
})();
