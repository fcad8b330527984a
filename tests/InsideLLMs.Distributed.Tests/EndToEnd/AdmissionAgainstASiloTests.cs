using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Tests.Client;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// Admission against a real silo process (<see cref="AdmissionSiloFixture"/>), through the HTTP API and the client alike:
/// runs too large for the memory budget (alone, or beside the active runs), corpora from outside the data directory or not text, the active-run and
/// session limits, prompts longer than the context. Each refusal has its status or exit code and a message saying why,
/// and leaves nothing behind: no activation of the run's grains, nothing about the run in the Redis store.
/// </summary>
[Collection(AdmissionSiloCollection.Name)]
public sealed class AdmissionAgainstASiloTests(AdmissionSiloFixture silo)
{
    private const string Budget = "a silo's memory budget (Compute:MemoryBudget) is 1.0 GB";

    private HttpClient Http => silo.Http;

    [Fact]
    public async Task OversizeModel_HttpIs400AndClientExits2_WithTheEstimateAndTheBudget_AndNothingIsLeft()
    {
        var spec = AdmissionSiloFixture.TinySpec();
        (spec["layers"], spec["width"], spec["heads"]) = (24, 2048, 16); // 1.2 billion parameters: 39 GB with gradients and AdamW

        var error = await RefusedAsync(spec, HttpStatusCode.BadRequest, "The run would need about ", Budget, "parameters with gradients and optimizer state");
        Assert.Contains("1,208,", error, StringComparison.Ordinal); // 24 x 12 x 2048² parameters and the tables

        var client = await RefusedByClientAsync(ExitCodes.Usage, "--layers", "24", "--width", "2048", "--heads", "16", "--context", "32", "--batch-size", "1");
        Assert.Contains(Budget, client, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizeBatch_HttpIs400AndClientExits2_NamingTheActivations_AndNothingIsLeft()
    {
        var spec = AdmissionSiloFixture.TinySpec();
        spec["batchSize"] = 1_000_000; // 1F1B holds one micro-batch of a million rows

        var error = await RefusedAsync(spec, HttpStatusCode.BadRequest, "activations of 1 micro-batch(es) in flight", Budget, "fewer rows per micro-batch");
        Assert.Contains("logits", error, StringComparison.Ordinal);

        await RefusedByClientAsync(ExitCodes.Usage, "--layers", "1", "--width", "16", "--heads", "2", "--context", "32", "--batch-size", "1000000");
    }

    [Theory]
    [InlineData("../x/secret.txt", "is outside the data directory")]
    [InlineData("/etc/passwd", "is outside the data directory")]
    [InlineData("secret.txt", "goes through the symbolic link")]
    [InlineData("elsewhere/secret.txt", "goes through the symbolic link")]
    [InlineData("archive.zip", "holds a NUL character at character 5: it is a binary file, not text.")]
    [InlineData("latin1.txt", "is not valid UTF-8: invalid byte 0xE9 at byte offset 3.")]
    [InlineData("huge.txt", "is 100,001 bytes; this silo reads corpus files of at most 100,000 bytes (Data:MaxCorpusBytes).")]
    [InlineData("poems/missing.txt", "does not exist in the data directory")]
    public async Task CorpusNotAllowed_HttpIs400AndClientExits2_SayingWhy_AndNothingIsLeft(string corpus, string reason)
    {
        var spec = AdmissionSiloFixture.TinySpec();
        (spec["corpus"], spec["encoding"]) = (corpus, "char");

        await RefusedAsync(spec, HttpStatusCode.BadRequest, reason);
        var client = await RefusedByClientAsync(ExitCodes.Usage, "--corpus", corpus, "--encoding", "char", "--layers", "1", "--width", "16", "--heads", "2", "--context", "32");
        Assert.Contains(reason, client, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorpusInsideTheDataDirectory_Trains()
    {
        var run = $"adm-file-{Guid.NewGuid():N}"[..24];
        var spec = AdmissionSiloFixture.TinySpec();
        (spec["corpus"], spec["encoding"]) = ("poems/sonnets.txt", "char");

        using var started = await Http.PostAsJsonAsync(Relative($"api/runs/{run}"), spec);
        Assert.True(started.IsSuccessStatusCode, $"{(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        var status = await silo.WaitForRunAsync(run);

        Assert.Equal("Completed", status.GetProperty("phase").GetString());
        Assert.Equal("poems/sonnets.txt", status.GetProperty("spec").GetProperty("corpus").GetString());
        Assert.InRange(status.GetProperty("lastLoss").GetDouble(), 0.1, 10);
    }

    [Fact]
    public async Task ActiveRunLimit_AThirdRunIs409OverHttpAndExit1FromTheClient_UntilOneStops()
    {
        string[] running = [$"adm-limit-a-{Guid.NewGuid():N}"[..24], $"adm-limit-b-{Guid.NewGuid():N}"[..24]];
        var later = $"adm-limit-c-{Guid.NewGuid():N}"[..24];
        try
        {
            foreach (var run in running)
            {
                await StartAsync(run, AdmissionSiloFixture.TinySpec(steps: 100_000));
            }

            var limit = $"The cluster already has 2 active run(s) ('{running.Min(StringComparer.Ordinal)}', '{running.Max(StringComparer.Ordinal)}'), " +
                "its limit (Training:MaxActiveRuns): stop one, or wait for one to end, before starting";
            await RefusedAsync(AdmissionSiloFixture.TinySpec(), HttpStatusCode.Conflict, limit);
            var client = await RefusedByClientAsync(ExitCodes.Failure, "--layers", "1", "--width", "16", "--heads", "2", "--context", "32");
            Assert.Contains(limit, client, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(running[0]);
        }

        await StartAsync(later, AdmissionSiloFixture.TinySpec());
        Assert.Equal("Completed", (await silo.WaitForRunAsync(later)).GetProperty("phase").GetString());
        await StopAsync(running[1]);
    }

    [Fact]
    public async Task MemoryHeldByActiveRuns_ARunThatFitsAloneButNotBesideThemIs409_UntilTheyStop()
    {
        // 1 layer x 1152 wide: 16.3M parameters, about 610 MB with gradients and AdamW, a step of 64 tokens in a blink.
        var wide = AdmissionSiloFixture.TinySpec(steps: 100_000);
        (wide["width"], wide["heads"]) = (1152, 8);
        var first = $"adm-memory-a-{Guid.NewGuid():N}"[..24];
        await StartAsync(first, wide);
        try
        {
            var error = await RefusedAsync(wide, HttpStatusCode.Conflict,
                $"The active run(s) '{first}' already hold about 6", "of the cluster's 1.0 GB memory budget (1 silo(s) x 1.0 GB, Compute:MemoryBudget), and '",
                "' would need about 6", "more: stop a run, wait for one to end, or add silos.");
            Assert.Contains(" MB more", error, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(first);
        }

        var second = $"adm-memory-b-{Guid.NewGuid():N}"[..24];
        await StartAsync(second, wide);
        await StopAsync(second);
    }

    private async Task StartAsync(string run, Dictionary<string, object> spec)
    {
        using var started = await Http.PostAsJsonAsync(Relative($"api/runs/{run}"), spec);
        Assert.True(started.IsSuccessStatusCode, $"start {run}: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
    }

    private async Task StopAsync(string run)
    {
        using var stopped = await Http.PostAsync(Relative($"api/runs/{run}/stop"), null);
        Assert.True(stopped.IsSuccessStatusCode, $"stop {run}: {(int)stopped.StatusCode} {await stopped.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task SessionLimit_AThirdGenerationIs409OverHttpAndExit1FromTheClient_UntilASessionEnds()
    {
        await using var connection = await ClusterConnection.ConnectAsync(GatewayList.Parse(silo.Gateway));
        var version = await connection.Client.GetGrain<IModelVersionGrain>(AdmissionSiloFixture.Version).GetInfoAsync();
        var first = connection.Client.GetGrain<IInferenceStageGrain>($"{AdmissionSiloFixture.Version}/0");
        string[] held = [$"held-{Guid.NewGuid():N}", $"held-{Guid.NewGuid():N}"];
        foreach (var session in held)
        {
            // A session's first pass, never ended: its cache stays open, as a slow reader's would.
            await first.ForwardAsync(new StageForward(session, version.Revision, 0, TokenBytes.From([2L]), null));
        }

        try
        {
            using var refused = await Http.PostAsJsonAsync(Relative($"api/versions/{AdmissionSiloFixture.Version}/generate"), new { prompt = " the cat", maxTokens = 3 });
            await AssertErrorAsync(refused, HttpStatusCode.Conflict,
                $"Version '{AdmissionSiloFixture.Version}' has 2 generation sessions open, its limit (Inference:MaxSessions); try again when one ends.");
            var client = await CliRun.RunAsync("generate", "--gateway", silo.Gateway, "--version", AdmissionSiloFixture.Version, "--max-tokens", "3", " the cat");
            Assert.True(client.ExitCode == ExitCodes.Failure, $"exit {client.ExitCode}: {client.Stderr}");
            Assert.Contains("(Inference:MaxSessions)", client.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            await first.EndSessionAsync(held[0]);
        }

        using var accepted = await Http.PostAsJsonAsync(Relative($"api/versions/{AdmissionSiloFixture.Version}/generate"), new { prompt = " the cat", maxTokens = 3 });
        Assert.True(accepted.IsSuccessStatusCode, $"after one ended: {(int)accepted.StatusCode} {await accepted.Content.ReadAsStringAsync()}");
        await first.EndSessionAsync(held[1]);
    }

    [Theory]
    [InlineData("generate")]
    [InlineData("attention")]
    [InlineData("next")]
    public async Task PromptLongerThanTheContext_Is400SayingBoth(string endpoint)
    {
        var prompt = string.Concat(Enumerable.Repeat(" the cat", AdmissionSiloFixture.Context)); // twice the context in tokens
        var path = endpoint == "generate"
            ? $"api/versions/{AdmissionSiloFixture.Version}/generate"
            : $"api/inspect/{AdmissionSiloFixture.Version}/{endpoint}?prompt={Uri.EscapeDataString(prompt)}";

        using var response = endpoint == "generate" ? await Http.PostAsJsonAsync(Relative(path), new { prompt }) : await Http.GetAsync(Relative(path));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, $"The prompt is {2 * AdmissionSiloFixture.Context} tokens but the model's context is {AdmissionSiloFixture.Context}");
    }

    [Fact]
    public async Task PromptLongerThanTheContext_ClientExits2SayingBoth()
    {
        var prompt = string.Concat(Enumerable.Repeat(" the cat", AdmissionSiloFixture.Context));

        var run = await CliRun.RunAsync("generate", "--gateway", silo.Gateway, "--version", AdmissionSiloFixture.Version, prompt);

        run.AssertUsageError();
        Assert.Contains($"The prompt is {2 * AdmissionSiloFixture.Context} tokens but the model's context is {AdmissionSiloFixture.Context}", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxTokensOverTheLimit_Is400SayingTheRange()
    {
        using var response = await Http.PostAsJsonAsync(Relative($"api/versions/{AdmissionSiloFixture.Version}/generate"), new { prompt = " the cat", maxTokens = 10_001 });

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "max tokens must be between 1 and 10000; got 10001.");
    }

    /// <summary>POSTs the spec as a new run, asserts the status and message parts, then that nothing was left; the error.</summary>
    private async Task<string> RefusedAsync(Dictionary<string, object> spec, HttpStatusCode status, params string[] parts)
    {
        var run = $"adm-refused-{Guid.NewGuid():N}"[..28];
        using var response = await Http.PostAsJsonAsync(Relative($"api/runs/{run}"), spec);
        var error = await AssertErrorAsync(response, status, parts);
        await AssertNothingLeftAsync(run);
        return error;
    }

    /// <summary>Runs <c>train start</c> for a new run with the options, asserts the exit code, then that nothing was left; stderr.</summary>
    private async Task<string> RefusedByClientAsync(int exitCode, params string[] options)
    {
        var run = $"adm-cli-{Guid.NewGuid():N}"[..24];
        var result = await CliRun.RunAsync(["train", "start", "--gateway", silo.Gateway, "--run", run, "--steps", "3", "--checkpoint-interval", "0", "--eval-interval", "0", .. options]);
        Assert.True(result.ExitCode == exitCode, $"exit {result.ExitCode}, stdout {result.Stdout}, stderr {result.Stderr}");
        Assert.StartsWith("error: ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        await AssertNothingLeftAsync(run);
        return result.Stderr;
    }

    /// <summary>No grain of the run stays active (its run grain deactivates within seconds), the store holds nothing about it, and its status is NotStarted.</summary>
    private async Task AssertNothingLeftAsync(string run)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var cluster = await Http.GetFromJsonAsync<JsonElement>(Relative("api/cluster"));
            var grains = cluster.GetProperty("silos").EnumerateArray().SelectMany(s => s.GetProperty("trainingGrains").EnumerateArray()).Select(g => g.GetString()!).ToList();
            if (!grains.Any(g => g.Contains(run, StringComparison.Ordinal)))
            {
                break;
            }

            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"grains of the refused run {run} still active: {string.Join(", ", grains.Where(g => g.Contains(run, StringComparison.Ordinal)))}");
            await Task.Delay(100);
        }

        var store = await silo.StoreAsync();
        Assert.NotEmpty(store); // the base run and version are there: the store is the silo's
        Assert.DoesNotContain(store, entry => entry.Key.Contains(run, StringComparison.Ordinal) || entry.Value.Contains(run, StringComparison.Ordinal));
        var status = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{run}"));
        Assert.Equal("NotStarted", status.GetProperty("phase").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("spec").ValueKind);
    }

    private static async Task<string> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, params string[] parts)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
        Assert.All(parts, part => Assert.Contains(part, error, StringComparison.Ordinal));
        return error;
    }

    private static Uri Relative(string path) => new(path, UriKind.Relative);
}
