// The few things the walkthrough page asks of the browser itself.
window.insideLlms = {
    // Saves text the server produced (a chart's data as CSV or JSON) as a file.
    download(fileName, mimeType, text) {
        const url = URL.createObjectURL(new Blob([text], { type: mimeType }));
        const link = document.createElement("a");
        link.href = url;
        link.download = fileName;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
    },
    // The sections render after the page connects, so the browser's own jump to #section came too early.
    scrollToHash() {
        const id = decodeURIComponent(location.hash.slice(1));
        const target = id && document.getElementById(id);
        if (target) {
            target.scrollIntoView({ behavior: "instant", block: "start" });
        }
    },
    prefersReducedMotion() {
        return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    }
};
