using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace InsideLLMs.Distributed.Tests.Page;

/// <summary>
/// The walkthrough page in a real browser against a real silo process that trains its default run by itself. Each
/// test opens the page, waits for it to be interactive, uses one section as a person would, and saves a screenshot.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class WalkthroughPageTests(PageFixture fixture, ITestOutputHelper output) : IClassFixture<PageFixture>
{
    private static readonly LocatorAssertionsToBeVisibleOptions Slow = new() { Timeout = 90_000 };

    [Fact]
    public async Task Tokenization_TypedText_ShowsItsGpt2Ids()
    {
        var page = await fixture.OpenAsync();
        await page.Locator("#tokenize-text").FillAsync("Hello world");

        // GPT-2's IDs: "Hello" 15496, " world" 995.
        await Expect(page.Locator("#pieces .id[data-id='15496']")).ToBeVisibleAsync();
        await Expect(page.Locator("#pieces .id[data-id='995']")).ToBeVisibleAsync();
        await Expect(page.Locator("#token-counts")).ToContainTextAsync("11 characters");
        await Expect(page.Locator("#token-counts")).ToContainTextAsync("2 tokens in gpt2");
        await fixture.SaveAsync(page, "01-tokenization");
    }

    [Fact]
    public async Task EverySection_ShowsRealNumbers_WithNothingTyped()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        await Expect(page.Locator("#embedding-summary")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#architecture-stages")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#training-figures")).ToContainTextAsync("Running", new() { Timeout = 90_000 });
        await Expect(page.Locator("#cluster-silos")).ToBeVisibleAsync(Slow);
        output.WriteLine($"first command to every section showing numbers: {fixture.SinceStart.Elapsed.TotalSeconds:F1} s");

        var summary = await page.Locator("#embedding-summary").InnerTextAsync();
        var categories = int.Parse(summary.Split(" categories")[0].Split(' ')[^1], CultureInfo.InvariantCulture);
        Assert.True(categories >= 7, summary); // the lexicon's animals, places, verbs, emotions, names, objects, colours (and their kinds)
        await Expect(page.Locator("#architecture-summary")).ToContainTextAsync("4 layers x 4 heads x 128 wide");
        Assert.Equal(2 * 2, await page.Locator("#architecture-stages td.mono").CountAsync()); // two stages: grain key and silo each
        await Expect(page.Locator("#cluster-silos")).ToContainTextAsync($"127.0.0.1:{fixture.Silo.SiloPort}");
        await fixture.SaveAsync(page, "00-whole-page");
        await fixture.SaveSectionsAsync(page, "00");
        output.WriteLine($"screenshots in {fixture.Screenshots}");
    }

    [Fact]
    public async Task Attention_ClickingAToken_ShowsWhereItLooks()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("Model:", new() { Timeout = 90_000 });
        await page.Locator("#attention button:has-text('Run')").ClickAsync();
        await Expect(page.Locator("#attention-tokens button[data-token='2']")).ToBeVisibleAsync(Slow);

        var clicked = System.Diagnostics.Stopwatch.StartNew();
        await page.Locator("#attention-tokens button[data-token='2']").ClickAsync();

        // Token 2 attends to tokens 0..2: three weights that add up to one.
        await Expect(page.Locator("#attention-bars td[data-weight]")).ToHaveCountAsync(3);
        output.WriteLine($"token click to the updated attention view: {clicked.Elapsed.TotalMilliseconds:F0} ms; time to interactive {fixture.LastTimeToInteractive.TotalMilliseconds:F0} ms");
        var weights = await page.Locator("#attention-bars td[data-weight]").AllInnerTextsAsync();
        Assert.Equal(1.0, weights.Sum(w => double.Parse(w, CultureInfo.InvariantCulture)), 2);
        await Expect(page.Locator("#attention-grid svg")).ToHaveCountAsync(16); // 4 layers x 4 heads
        await fixture.SaveAsync(page, "04-attention");
    }

    [Fact]
    public async Task Generation_StreamsTokens_AndTakingAnAlternativeChangesTheContinuation()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        await page.Locator("#generate").ClickAsync();
        await Expect(page.Locator("#completion [data-generated='3']")).ToBeVisibleAsync(Slow);
        var prompt = await page.Locator("#generation-prompt").InputValueAsync();

        var alternative = page.Locator("#alternatives button[data-alternative='1']").First;
        var taken = (await alternative.TextContentAsync() ?? "").Trim().Split(" (")[0];
        await alternative.ClickAsync();

        await Expect(page.Locator("#generation-prompt")).Not.ToHaveValueAsync(prompt);
        Assert.EndsWith(taken, (await page.Locator("#generation-prompt").InputValueAsync()).TrimEnd(), StringComparison.Ordinal);
        await Expect(page.Locator("#completion [data-generated='1']")).ToBeVisibleAsync(Slow);
        await fixture.SaveAsync(page, "05-generation");
    }

    [Fact]
    public async Task Training_TheLossChartGainsPoints_AndTheTimelineHasEveryStage()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#timeline rect.block[data-stage='1']").First).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#timeline rect.block[data-stage='0']").First).ToBeVisibleAsync();
        var before = await StepAsync(page);
        await page.WaitForTimeoutAsync(6000);
        Assert.True(await StepAsync(page) > before, "the page's step did not advance while the run trains");
        await Expect(page.Locator("#loss-chart .scatterlayer .trace").First).ToBeVisibleAsync();
        await fixture.SaveAsync(page, "06-training");
    }

    [Fact]
    public async Task Qkv_TheNumbersOnThePage_AreTheApis()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };
        async Task<long> RevisionAsync() =>
            (await http.GetFromJsonAsync<JsonElement>(new Uri("api/versions/base", UriKind.Relative))).GetProperty("revision").GetInt64();

        // The default run republishes 'base' every 10 s: compare only numbers computed on the same revision.
        for (var attempt = 0; ; attempt++)
        {
            var revision = await RevisionAsync();
            await page.Locator("#qkv-run").ClickAsync();
            await Expect(page.Locator("#qkv-table td[data-qkv-weight='5']")).ToBeVisibleAsync(Slow);
            var onPage = await page.Locator("#qkv-table td[data-qkv-weight]").AllInnerTextsAsync();
            var view = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/inspect/base/qkv?prompt={Uri.EscapeDataString(" the fox went to the river")}&layer=0&head=0&token=5", UriKind.Relative));
            var fromApi = view.GetProperty("weights").EnumerateArray().Select(w => w.GetDouble().ToString("F4", CultureInfo.InvariantCulture)).ToArray();
            if (await RevisionAsync() != revision && attempt < 5)
            {
                continue;
            }

            Assert.Equal(fromApi, onPage);
            break;
        }

        await fixture.SaveAsync(page, "07-qkv");
    }

    [Fact]
    public async Task TheUrl_RestoresAView_AndKeepsWhatIsTyped()
    {
        var page = await fixture.OpenAsync("?text=Hello%20world&prompt=%20the%20cat%20went%20home");

        await Expect(page.Locator("#pieces .id[data-id='15496']")).ToBeVisibleAsync();
        await Expect(page.Locator("#attention-prompt")).ToHaveValueAsync(" the cat went home");
        await Expect(page.Locator("#qkv-prompt")).ToHaveValueAsync(" the cat went home");

        await page.Locator("#tokenize-text").FillAsync("Good morning");
        await page.WaitForURLAsync(url => url.Contains("text=Good%20morning", StringComparison.Ordinal), new() { Timeout = 10_000 });
        var shared = await fixture.OpenAsync(new Uri(page.Url).Query);
        await Expect(shared.Locator("#tokenize-text")).ToHaveValueAsync("Good morning");
        await fixture.SaveAsync(shared, "url-restored");
    }

    private static async Task<long> StepAsync(IPage page)
    {
        var text = await page.Locator("#training-figures").InnerTextAsync();
        var after = text[(text.IndexOf("step", StringComparison.Ordinal) + 4)..].Trim();
        return long.Parse(after.Split(' ', '/')[0], CultureInfo.InvariantCulture);
    }
}
