using System.Diagnostics;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Playwright;

namespace InsideLLMs.Distributed.Tests.Page;

/// <summary>
/// A real silo process started as a newcomer starts one (localhost clustering, the default run started by itself and
/// published as version <c>base</c>), and Debian's Chromium driven by Playwright. Nothing is downloaded: the browser is
/// the system's, Playwright's driver ships in its package.
/// </summary>
public sealed class PageFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private SiloProcess? _silo;
    private IPlaywright? _playwright;
    private IBrowserContext? _browser;
    private string? _profile;

    public SiloProcess Silo => _silo ?? throw new InvalidOperationException("The silo has not started.");

    public IBrowserContext Browser => _browser ?? throw new InvalidOperationException("The browser has not started.");

    /// <summary>Screenshots of every test, kept after the run.</summary>
    public string Screenshots { get; } = Directory.CreateTempSubdirectory("insidellms-page-screenshots-").FullName;

    /// <summary>When the silo process was started: the page's figures count from the first command.</summary>
    public Stopwatch SinceStart { get; } = new();

    public async Task InitializeAsync()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 260)[0];
        var logs = Directory.CreateTempSubdirectory("insidellms-page-").FullName;
        var configuration = new Dictionary<string, string>
        {
            ["Compute:Workers"] = "2",
            ["Compute:TorchThreadsPerWorker"] = "1",
            // The one-command start turns this on by itself; a silo started with --instance (as tests do) must ask.
            ["Training:AutoStart"] = "true",
            ["Training:PublishEverySeconds"] = "10",
        };
        SinceStart.Start();
        _silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(PageFixture).Assembly), instance, configuration, logs, SiloStartTimeout);
        _playwright = await Playwright.CreateAsync();
        _profile = Directory.CreateTempSubdirectory("insidellms-chromium-").FullName;
        _browser = await _playwright.Chromium.LaunchPersistentContextAsync(_profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            ],
        });
    }

    /// <summary>From navigation to the circuit being connected, for the page opened last.</summary>
    public TimeSpan LastTimeToInteractive { get; private set; }

    /// <summary>A new tab on the page, once its circuit is connected (prerendered HTML would look ready before it can react).</summary>
    /// <remarks>Tabs opened by earlier tests are closed first (a test may keep two of its own), so they do not poll the silo meanwhile.</remarks>
    public async Task<IPage> OpenAsync(string query = "")
    {
        foreach (var old in Browser.Pages.SkipLast(1).ToList())
        {
            await old.CloseAsync();
        }

        var page = await Browser.NewPageAsync();
        var opening = Stopwatch.StartNew();
        await page.GotoAsync(new Uri(Silo.WebAddress, query).ToString());
        await Assertions.Expect(page.Locator("#walkthrough[data-interactive=true]")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        LastTimeToInteractive = opening.Elapsed;
        return page;
    }

    public Task SaveAsync(IPage page, string name)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });
    }

    /// <summary>One screenshot per section, each readable at its own size.</summary>
    public async Task SaveSectionsAsync(IPage page, string prefix)
    {
        ArgumentNullException.ThrowIfNull(page);
        foreach (var id in new[] { "tokenization", "embedding", "architecture", "attention", "generation", "training", "qkv", "rlhf", "cluster" })
        {
            await page.Locator("#" + id).ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Screenshots, $"{prefix}-{id}.png") });
        }
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }

        if (_profile is not null)
        {
            try
            {
                Directory.Delete(_profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still hold a lock file for a moment; the profile is in the temporary directory.
            }
        }
    }
}
