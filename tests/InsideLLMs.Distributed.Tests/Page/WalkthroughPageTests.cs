using System.Diagnostics;
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
    private static readonly LocatorAssertionsToContainTextOptions SlowText = new() { Timeout = 90_000 };

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
        Assert.Equal(1.0, weights.Sum(w => double.Parse(w, CultureInfo.InvariantCulture)), 1e-2);
        await Expect(page.Locator("#attention-grid svg")).ToHaveCountAsync(16); // 4 layers x 4 heads

        await page.Locator("#attention-grid button[data-pin-head='1.2']").ClickAsync();
        await Expect(page.Locator("#pinned-heads figure[data-pinned-head='1.2']")).ToBeVisibleAsync();
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

        // The loop's four steps with the run's numbers: -ln p is the p shown, and the layers' norms make the global one.
        await Expect(page.Locator("#loop-loss div.mono")).ToContainTextAsync("nats", SlowText);
        var loss = (await page.Locator("#loop-loss div.mono").InnerTextAsync()).Split(',');
        var p = double.Parse(loss[0].Split('=')[1].Trim(), CultureInfo.InvariantCulture);
        var nats = double.Parse(loss[1].Split('=')[1].Replace("nats", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
        Assert.Equal(-Math.Log(p), nats, 1e-1);
        await Expect(page.Locator("#loop-backward tr[data-layer-norm]")).ToHaveCountAsync(4 + 2); // embedding, 4 blocks, final norm
        var norms = await page.Locator("#loop-backward tr[data-layer-norm] td:last-child").AllInnerTextsAsync();
        var header = await page.Locator("#loop-backward .provenance").InnerTextAsync();
        var global = double.Parse(header.Split("global ")[1].Split(',', ')')[0], CultureInfo.InvariantCulture);
        Assert.InRange(Math.Sqrt(norms.Sum(n => Math.Pow(double.Parse(n, CultureInfo.InvariantCulture), 2))), global - 0.002, global + 0.002);
        await Expect(page.Locator("#loop-update")).ToContainTextAsync("‖Δθ‖ / ‖θ‖");
        await fixture.SaveAsync(page, "06-training");
    }

    [Fact]
    public async Task Qkv_TheNumbersOnThePage_AreTheApis_ForBankInTheRiverSentence()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };

        // The default: "bank" in a sentence where a river came first.
        await Expect(page.Locator("#qkv-summary")).ToContainTextAsync("(\" bank\")", new() { Timeout = 90_000 });
        var prompt = await page.Locator("#qkv-prompt").InputValueAsync();
        Assert.Contains("river", prompt, StringComparison.Ordinal);

        // The default run republishes 'base' every 10 s: compare only numbers computed on the same revision.
        for (var attempt = 0; ; attempt++)
        {
            var revision = await RevisionAsync(http);
            await page.Locator("#qkv-run").ClickAsync();
            await Expect(page.Locator("#qkv-table td[data-qkv-weight='5']")).ToBeVisibleAsync(Slow);
            var token = await page.Locator("#qkv-summary").GetAttributeAsync("data-token");
            var onPage = await page.Locator("#qkv-table td[data-qkv-weight]").AllInnerTextsAsync();
            var view = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/inspect/base/qkv?prompt={Uri.EscapeDataString(prompt)}&layer=0&head=0&token={token}", UriKind.Relative));
            var fromApi = view.GetProperty("weights").EnumerateArray().Select(w => w.GetDouble().ToString("F4", CultureInfo.InvariantCulture)).ToArray();
            // The view shown before the click may still be on screen for a moment: try again before judging.
            if ((await RevisionAsync(http) != revision || !fromApi.SequenceEqual(onPage)) && attempt < 5)
            {
                await Task.Delay(1000);
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
        var page = await fixture.OpenAsync("?text=Hello%20world&prompt=%20the%20cat%20went%20home&qkv=%20the%20dog%20ran&token=%20cat&layer=1&head=2&temperature=0.5&topk=0&seed=7");

        await Expect(page.Locator("#pieces .id[data-id='15496']")).ToBeVisibleAsync();
        await Expect(page.Locator("#attention-prompt")).ToHaveValueAsync(" the cat went home");
        await Expect(page.Locator("#qkv-prompt")).ToHaveValueAsync(" the dog ran");
        await Expect(page.Locator("#pinned-token")).ToContainTextAsync("·cat");
        await Expect(page.Locator("#temperature")).ToHaveValueAsync("0.5");
        await Expect(page.Locator("#top-k")).ToHaveValueAsync("");
        await Expect(page.Locator("#qkv-layer")).ToHaveValueAsync("1");
        await Expect(page.Locator("#qkv-head")).ToHaveValueAsync("2");

        await page.Locator("#tokenize-text").FillAsync("Good morning");
        await page.WaitForURLAsync(url => url.Contains("text=Good%20morning", StringComparison.Ordinal), new() { Timeout = 10_000 });
        var shared = await fixture.OpenAsync(new Uri(page.Url).Query);
        await Expect(shared.Locator("#tokenize-text")).ToHaveValueAsync("Good morning");
        await Expect(shared.Locator("#pinned-token")).ToContainTextAsync("·cat");
        await fixture.SaveAsync(shared, "url-restored");
    }

    [Fact]
    public async Task PinningAToken_HighlightsItInEverySection()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        await page.Locator("#tokenize-text").FillAsync(" the dog walked to the river");
        var river = page.Locator("#pieces button[data-piece='5']:has-text('·river')");
        await Expect(river).ToBeVisibleAsync();

        await river.ClickAsync();
        await Expect(page.Locator("#pinned-token")).ToContainTextAsync("·river");
        await Expect(page.Locator("#pieces button.pinned")).ToHaveCountAsync(1);
        await page.WaitForURLAsync(url => url.Contains("token=%20river", StringComparison.Ordinal), new() { Timeout = 10_000 });

        // Its embedding point (a trace of its own), its neighbours, its attention row and its Q/K/V rows.
        await Expect(page.Locator("#embedding-chart .legendtext:has-text('pinned')")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#neighbours caption")).ToContainTextAsync("river", new() { Timeout = 30_000 });
        await Expect(page.Locator("#attention-tokens button.pinned").First).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#qkv-table tr.pinned").First).ToBeVisibleAsync(Slow);
        await fixture.SaveAsync(page, "pinned-river");

        await page.Locator("#unpin").ClickAsync();
        await Expect(page.Locator("#pieces button.pinned")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Embedding_ClickingAPoint_PinsItsToken()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#embedding-summary")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#embedding-chart .scatterlayer .trace .points path").First).ToBeVisibleAsync(Slow);

        // Plotly finds the point under the mouse itself (its drag layer covers the markers): move there, then click.
        // The chart is redrawn when the version is republished, so a hover may be lost once: try the point again.
        var hover = page.Locator("#embedding-chart .hoverlayer .hovertext").First;
        await page.Locator("#embedding-chart").ScrollIntoViewIfNeededAsync();
        float x = 0, y = 0;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var point = page.Locator("#embedding-chart .scatterlayer .trace").First.Locator(".points path").First;
                var box = await point.BoundingBoxAsync(new() { Timeout = 5_000 }) ?? throw new PlaywrightException("The point has no box.");
                (x, y) = (box.X + (box.Width / 2), box.Y + (box.Height / 2));
                await page.Mouse.MoveAsync(x - 3, y);
                await page.Mouse.MoveAsync(x, y, new() { Steps = 3 });
                await Expect(hover).ToBeVisibleAsync(new() { Timeout = 3_000 }); // Plotly found the point under the mouse
            }
            catch (PlaywrightException) when (attempt < 3)
            {
                continue;
            }

            await page.Mouse.ClickAsync(x, y);
            break;
        }

        await Expect(page.Locator("#pinned-token .piece")).ToBeVisibleAsync(new() { Timeout = 10_000 });
        var pinned = (await page.Locator("#pinned-token .piece").InnerTextAsync()).Replace("·", " ", StringComparison.Ordinal);
        var drawn = await page.EvaluateAsync<string[]>("() => document.getElementById('embedding-chart').data.flatMap(t => t.text)");
        Assert.Contains(pinned, drawn);
        await Expect(page.Locator("#neighbours caption")).ToContainTextAsync(pinned.Trim(), SlowText);
    }

    [Fact]
    public async Task Generation_StepDrawsFromTheDistributionDrawn_AndTheCutOffIsShown()
    {
        var page = await fixture.OpenAsync("?topk=1");
        await Expect(page.Locator("#provenance")).ToContainTextAsync("version 'base'", new() { Timeout = 90_000 });
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };

        // Top-k 1 keeps one token: the chart's after-filter bar is the only token a step can draw, and the cut-off
        // line stands after it.
        await Expect(page.Locator("#next-summary")).ToContainTextAsync("1 of", SlowText);
        await Expect(page.Locator("#distribution-chart .barlayer .trace")).ToHaveCountAsync(2);
        await Expect(page.Locator("#distribution-chart .shapelayer path").First).ToBeAttachedAsync(new() { Timeout = 10_000 });
        const string MarkStale = "() => { document.getElementById('distribution-chart').data[1].stale = true; }";
        const string Redrawn = "() => !document.getElementById('distribution-chart').data[1].stale";
        const string Kept = "() => { const d = document.getElementById('distribution-chart').data[1]; return d.x.filter((_, i) => d.y[i] > 0).map(x => x.replace(/^★/, '')); }";
        for (var attempt = 0; ; attempt++)
        {
            // The chart on screen may have been drawn from an earlier revision than the one read now: draw it again after
            // the read (Reset recomputes it; Plotly replaces the data objects, so a mark on the old ones tells when).
            var revision = await RevisionAsync(http);
            await page.EvaluateAsync(MarkStale);
            await page.Locator("#generation button:has-text('Reset')").ClickAsync();
            await page.WaitForFunctionAsync(Redrawn, null, new() { Timeout = 30_000 });

            // Three steps, each drawing the one token the chart kept just before it (spaces are shown as ·).
            var kept = new List<string>();
            var drawn = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                kept.Add(string.Join('|', await page.EvaluateAsync<string[]>(Kept)));
                await page.EvaluateAsync(MarkStale);
                await page.Locator("#generation-step").ClickAsync();
                await Expect(page.Locator("#completion [data-generated]")).ToHaveCountAsync(i + 1, new() { Timeout = 30_000 });
                drawn.Add((await page.Locator($"#completion [data-generated='{i}']").InnerTextAsync()).Replace(" ", "·", StringComparison.Ordinal));
                await Expect(page.Locator("#generation-step")).ToBeEnabledAsync();
                // The button comes back before Plotly has drawn the next distribution: wait for the new data objects.
                await page.WaitForFunctionAsync(Redrawn, null, new() { Timeout = 30_000 });
            }

            // The default run republishes 'base' every 10 s: a chart of other weights is no evidence either way.
            if (!kept.SequenceEqual(drawn) && await RevisionAsync(http) != revision && attempt < 3)
            {
                continue;
            }

            Assert.Equal(kept, drawn);
            break;
        }

        await fixture.SaveAsync(page, "05-generation-distribution");
    }

    [Fact]
    public async Task RunControl_RefusesBadValuesInline_StartsAndStopsARun()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#runs tr[data-run='default']")).ToBeVisibleAsync(Slow);
        await page.Locator("#new-run-toggle").ClickAsync();
        await page.Locator("#new-run-id").FillAsync("page-made");
        await page.Locator("#new-run-stages").FillAsync("9"); // more stages than the model's 4 layers
        await page.Locator("#new-run-stages").PressAsync("Tab");
        await page.Locator("#new-run-start").ClickAsync();
        await Expect(page.Locator("#new-run-error")).ToContainTextAsync("stage", new() { Timeout = 10_000 });
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };
        var refused = await http.GetFromJsonAsync<JsonElement>(new Uri("api/runs/page-made", UriKind.Relative));
        Assert.Equal("NotStarted", refused.GetProperty("phase").GetString());
        await fixture.SaveAsync(page, "run-form-refused");

        await page.Locator("#new-run-stages").FillAsync("2");
        await page.Locator("#new-run-steps").FillAsync("400");
        await page.Locator("#new-run-width").FillAsync("32");
        await page.Locator("#new-run-width").PressAsync("Tab");
        await page.Locator("#new-run-start").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("run=page-made", StringComparison.Ordinal), new() { Timeout = 30_000 });
        await Expect(page.Locator("#runs tr[data-run='page-made']")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#training")).ToContainTextAsync("Run 'page-made'", SlowText);

        await page.Locator("#runs button[data-stop='page-made']").ClickAsync();
        string? phase = null;
        for (var wait = Stopwatch.StartNew(); wait.Elapsed < TimeSpan.FromSeconds(60) && phase is null or "Running" or "Starting"; await Task.Delay(500))
        {
            phase = (await http.GetFromJsonAsync<JsonElement>(new Uri("api/runs/page-made", UriKind.Relative))).GetProperty("phase").GetString();
        }

        Assert.Equal("Stopped", phase);
    }

    [Fact]
    public async Task Rlhf_RankingATaskOnThePage_IsStoredWithThatOrder_AndCounted()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#rank-summary")).ToBeVisibleAsync(Slow);
        var before = long.Parse((await page.Locator("#rank-summary [data-rankings]").GetAttributeAsync("data-rankings"))!, CultureInfo.InvariantCulture);
        await page.Locator("#rank-annotator").FillAsync("browser-1");
        await page.Locator("#rank-annotator").PressAsync("Tab");

        // The base version appears after the default run's first step: ask until a task comes.
        for (var wait = Stopwatch.StartNew(); await page.Locator("#rank-order li").CountAsync() == 0; await Task.Delay(500))
        {
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(90), "no ranking task on the page after 90 s: " + await page.Locator("#rlhf").InnerTextAsync());
            await page.Locator("#rank-next").ClickAsync();
            await page.WaitForTimeoutAsync(500);
        }

        await Expect(page.Locator("#rank-order li")).ToHaveCountAsync(4);
        await page.Locator("#rank-order button[data-down='0']").ClickAsync(); // 1 0 2 3
        await Expect(page.Locator("#rank-order li").Nth(1)).ToHaveAttributeAsync("data-completion", "0");
        await page.Locator("#rank-order button[data-down='0']").ClickAsync(); // 1 2 0 3
        await Expect(page.Locator("#rank-order li").Nth(2)).ToHaveAttributeAsync("data-completion", "0");
        await page.Locator("#rank-order button[data-up='3']").FocusAsync();
        await page.Keyboard.PressAsync("Enter"); // 1 2 3 0, by keyboard
        await Expect(page.Locator("#rank-order li").Nth(3)).ToHaveAttributeAsync("data-completion", "0");
        await page.Locator("#rank-submit").ClickAsync();

        await Expect(page.Locator("#rank-receipt")).ToContainTextAsync("Stored task-", SlowText);
        await Expect(page.Locator("#rank-summary [data-rankings]")).ToHaveAttributeAsync("data-rankings", (before + 1).ToString(CultureInfo.InvariantCulture));
        var task = await page.Locator("#rank-task").GetAttributeAsync("data-task");
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };
        var stored = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/rlhf/tasks/{task}/rankings", UriKind.Relative));
        var ranking = Assert.Single(stored.EnumerateArray());
        Assert.Equal("browser-1", ranking.GetProperty("annotator").GetString());
        Assert.False(ranking.GetProperty("simulated").GetBoolean());
        Assert.Equal([1, 2, 3, 0], ranking.GetProperty("order").EnumerateArray().Select(e => e.GetInt32()));
        await page.Locator("#rlhf").ScrollIntoViewIfNeededAsync();
        await fixture.SaveAsync(page, "rlhf-ranked");
        await page.Locator("#rlhf").ScreenshotAsync(new() { Path = Path.Combine(fixture.Screenshots, "rlhf-section.png") });
    }

    /// <summary>
    /// Section 08 follows a PPO run: a tiny language model and a reward model trained through the API, a PPO run of 6
    /// iterations started through the API, and the page shows it completed, with its curves' data and the last
    /// iteration's samples, the numbers the API reports.
    /// </summary>
    [Fact]
    public async Task Rlhf_APpoRun_IsFollowedOnThePage_WithItsCurvesAndSamples()
    {
        using var http = new HttpClient { BaseAddress = fixture.Silo.WebAddress };
        var source = new Dictionary<string, object>
        {
            ["layers"] = 2, ["heads"] = 2, ["width"] = 32, ["context"] = 64, ["steps"] = 3, ["batchSize"] = 4, ["learningRate"] = 3e-3,
            ["minLearningRate"] = 3e-4, ["warmupSteps"] = 1, ["checkpointInterval"] = 3, ["evalInterval"] = 0, ["seed"] = 51,
        };
        await TrainAsync(http, "page-ppo-policy", source);
        (await http.PostAsJsonAsync(new Uri("api/versions/page-ppo-policy", UriKind.Relative), new { runId = "page-ppo-policy", stages = 1 })).EnsureSuccessStatusCode();
        await TrainAsync(http, "page-ppo-reward", new Dictionary<string, object>(source) { ["objective"] = "reward", ["initFrom"] = "page-ppo-policy", ["rankingCompletions"] = 4 });
        var started = await http.PostAsJsonAsync(new Uri("api/rlhf/ppo/ppo", UriKind.Relative), new
        {
            policyRun = "page-ppo-policy", rewardRun = "page-ppo-reward", iterations = 6, rollouts = 4, epochs = 1, miniBatches = 1, maxCompletionTokens = 8,
            stages = 2, microBatches = 2,
        });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());

        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#ppo")).ToHaveAttributeAsync("data-phase", "Completed", new() { Timeout = 120_000 });
        var status = await http.GetFromJsonAsync<JsonElement>(new Uri("api/rlhf/ppo/ppo", UriKind.Relative));
        var last = status.GetProperty("history").EnumerateArray().Last();
        await Expect(page.Locator("#ppo")).ToHaveAttributeAsync("data-iteration", "6");
        await Expect(page.Locator("#ppo-figures")).ToContainTextAsync("iteration 6 / 6");
        await Expect(page.Locator("#ppo-figures")).ToContainTextAsync($"KL {last.GetProperty("meanKl").GetDouble().ToString("0.00", CultureInfo.InvariantCulture)} nats");
        await Expect(page.Locator("#ppo-samples tbody tr")).ToHaveCountAsync(4);
        var newest = status.GetProperty("samples").EnumerateArray().Where(x => x.GetProperty("iteration").GetInt32() == 6).ToArray();
        await Expect(page.Locator("#ppo-samples tbody tr").First.Locator("td").First).ToHaveTextAsync(newest[0].GetProperty("prompt").GetString()!);
        await Expect(page.Locator("#ppo-models")).ToContainTextAsync("policy: silo 127.0.0.1:");
        await Expect(page.Locator("#ppo-training-stages")).ToContainTextAsync("2 stage(s) × 1 replica(s) × 2 micro-batch(es): policy on silo(s) 127.0.0.1:");
        await Expect(page.Locator("#ppo-training-stages")).ToContainTextAsync("sampled through the inference stages of version ppo.ppo on silo(s) 127.0.0.1:");
        await page.Locator("#ppo").ScrollIntoViewIfNeededAsync();
        await Expect(page.Locator("#ppo-chart .scatterlayer .trace")).ToHaveCountAsync(3, new() { Timeout = 30_000 });
        await page.Locator("#ppo").ScreenshotAsync(new() { Path = Path.Combine(fixture.Screenshots, "rlhf-ppo.png") });

        // The policy as the version "assistant", asked the same instruction as the base model beside it ("sft" is not
        // published here: its row says so). Each answer's log-probability under each model is the API's.
        (await http.PostAsJsonAsync(new Uri("api/versions/assistant", UriKind.Relative), new { ppoRun = "ppo", stages = 1 })).EnsureSuccessStatusCode();
        await page.Locator("#compare-instruction").FillAsync(" describe the cat at the river");
        await page.Locator("#compare-instruction").PressAsync("Tab");
        await page.Locator("#compare-run").ClickAsync();
        await Expect(page.Locator("#compare-table tbody tr")).ToHaveCountAsync(3, new() { Timeout = 60_000 });
        await Expect(page.Locator("#compare-table tr[data-version='sft']")).ToContainTextAsync("sft");
        var answer = (await page.Locator("#compare-table tr[data-version='assistant'] td").Nth(1).InnerTextAsync()).TrimEnd(' ', '…');
        Assert.False(string.IsNullOrEmpty(answer));
        var cells = page.Locator("#compare-table tr[data-version='assistant'] td");
        var underBase = double.Parse(await cells.Nth(3).InnerTextAsync(), CultureInfo.InvariantCulture);
        var underItself = double.Parse(await cells.Nth(4).InnerTextAsync(), CultureInfo.InvariantCulture);
        Assert.True(underBase < 0 && underItself < 0, $"log-probabilities {underBase}, {underItself}");
        var rule = InsideLLMs.Distributed.Maths.Data.PreferenceRule.Default.Score(" describe the cat at the river", answer);
        Assert.Equal(rule.ToString("0.##", CultureInfo.InvariantCulture), await cells.Nth(2).InnerTextAsync());
        await page.Locator("#compare").ScreenshotAsync(new() { Path = Path.Combine(fixture.Screenshots, "rlhf-compare.png") });

        // The pipeline's last stage alone (the policy published through its events) shows up in the section as it goes.
        await Expect(page.Locator("#pipeline-none")).ToBeVisibleAsync();
        var pipeline = await http.PostAsJsonAsync(new Uri("api/rlhf/pipeline", UriKind.Relative), new { stages = new[] { "publish" }, ppoRun = "ppo", version = "page-pipeline" });
        Assert.True(pipeline.IsSuccessStatusCode, await pipeline.Content.ReadAsStringAsync());
        await Expect(page.Locator("#pipeline")).ToHaveAttributeAsync("data-phase", "completed", new() { Timeout = 30_000 });
        await Expect(page.Locator("#pipeline-stages tr[data-stage='publish']")).ToHaveAttributeAsync("data-state", "done");
        await Expect(page.Locator("#pipeline-stages tr[data-stage='sft']")).ToHaveAttributeAsync("data-state", "skipped");
        await Expect(page.Locator("#pipeline-events")).ToContainTextAsync("ModelPublished");
    }

    private static async Task TrainAsync(HttpClient http, string run, Dictionary<string, object> spec)
    {
        var response = await http.PostAsJsonAsync(new Uri($"api/runs/{run}", UriKind.Relative), spec);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        for (var wait = Stopwatch.StartNew(); ; await Task.Delay(200))
        {
            var status = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/runs/{run}", UriKind.Relative));
            var phase = status.GetProperty("phase").ToString();
            if (phase is "Completed" or "4")
            {
                return;
            }

            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(90) && phase is not ("Failed" or "6" or "Stopped" or "5"), $"run {run}: {status}");
        }
    }

    [Fact]
    public async Task Charts_HaveADataTable_AndTheClusterShowsItsTraffic_AndTheArchitectureExplainsItsParts()
    {
        var page = await fixture.OpenAsync();
        await Expect(page.Locator("#cluster-traffic")).ToContainTextAsync("activations", SlowText);
        await Expect(page.Locator("#cluster-traffic")).ToContainTextAsync("all-reduce");
        await Expect(page.Locator("#architecture-training td.mono").First).ToBeVisibleAsync(Slow);

        await Expect(page.Locator("#loss-chart .scatterlayer .trace").First).ToBeVisibleAsync(Slow);
        await page.Locator("#training [data-table-toggle='loss']").ClickAsync();
        await Expect(page.Locator("table[data-table='loss'] tr").Nth(1)).ToBeVisibleAsync(Slow); // a row past the header

        await page.Locator("#architecture-parts button[data-part='head']").ClickAsync();
        await Expect(page.Locator("[data-explains='head']")).ToContainTextAsync("logit");
        await page.Locator("#architecture-parts button[data-part='head']").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("[data-explains='head']")).ToHaveCountAsync(0);
        await fixture.SaveSectionsAsync(page, "10");
    }

    [Fact]
    public async Task AtPhoneWidth_NothingOverflowsThePage()
    {
        var page = await fixture.OpenAsync();
        await page.SetViewportSizeAsync(390, 844);
        await Expect(page.Locator("#embedding-summary")).ToBeVisibleAsync(Slow);
        await Expect(page.Locator("#timeline")).ToBeVisibleAsync(Slow);
        var overflow = await page.EvaluateAsync<int>("document.documentElement.scrollWidth - window.innerWidth");
        Assert.True(overflow <= 0, $"the page is {overflow} px wider than a 390 px screen");
        await fixture.SaveAsync(page, "phone");
    }

    /// <summary>The revision of version 'base', which the default run republishes every 10 s in these tests.</summary>
    private static async Task<long> RevisionAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>(new Uri("api/versions/base", UriKind.Relative))).GetProperty("revision").GetInt64();

    private static async Task<long> StepAsync(IPage page)
    {
        var text = await page.Locator("#training-figures").InnerTextAsync();
        var after = text[(text.IndexOf("step", StringComparison.Ordinal) + 4)..].Trim();
        return long.Parse(after.Split(' ', '/')[0], CultureInfo.InvariantCulture);
    }
}
