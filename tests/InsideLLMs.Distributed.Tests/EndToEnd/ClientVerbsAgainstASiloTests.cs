using System.Text.Json;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Tests.Client;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// The client's cluster verbs, run in this process (<see cref="CliRun"/>) against one real silo process through its
/// gateway: every <c>--json</c> document parses and says what the silo holds.
/// </summary>
[Collection(OneSiloCollection.Name)]
public sealed class ClientVerbsAgainstASiloTests(OneSiloFixture silo)
{
    private const string Prompt = " the cat went to the river";

    [Fact]
    public async Task TrainStartWatchTrace_SmallTwoStageRun_CompletesAndWritesAChromeTraceOfBothStages()
    {
        var run = $"cli-{Guid.NewGuid():N}";

        var start = await VerbAsync("train", "start", "--run", run, "--stages", "2", "--micro-batches", "2", "--layers", "2", "--width", "32",
            "--heads", "2", "--context", "32", "--batch-size", "2", "--steps", "6", "--warmup", "1", "--checkpoint-interval", "0", "--eval-interval", "0");
        Assert.Equal(run, start.GetProperty("runId").GetString());
        Assert.Contains(start.GetProperty("phase").GetString(), new[] { "Starting", "Running", "Completed" });
        Assert.Equal(6, start.GetProperty("totalSteps").GetInt64());

        var watched = await VerbAsync("train", "watch", "--run", run);
        Assert.Equal("Completed", watched.GetProperty("phase").GetString());
        Assert.Equal(6, watched.GetProperty("step").GetInt64());
        Assert.InRange(watched.GetProperty("lastLoss").GetDouble(), 0.1, 20);

        var file = Path.Combine(Directory.CreateTempSubdirectory("insidellms-trace-").FullName, "run.trace.json");
        var trace = await VerbAsync("train", "trace", "--run", run, "--out", file);
        Assert.Equal(file, trace.GetProperty("path").GetString());
        Assert.True(trace.GetProperty("spans").GetInt32() > 0);
        using var chrome = JsonDocument.Parse(await File.ReadAllTextAsync(file));
        var events = chrome.RootElement.GetProperty("traceEvents").EnumerateArray().Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.Equal(trace.GetProperty("spans").GetInt32(), events.Count);
        Assert.Equal([0, 1], events.Where(e => e.GetProperty("cat").GetString() == "forward")
            .Select(e => e.GetProperty("args").GetProperty("stage").GetInt32()).Distinct().Order());
    }

    [Fact]
    public async Task Cluster_Json_ListsTheOneActiveSiloWithItsGatewayAndTheBaseRun()
    {
        var view = await VerbAsync("cluster");

        var only = Assert.Single(view.GetProperty("silos").EnumerateArray());
        Assert.Equal("Active", only.GetProperty("status").GetString());
        Assert.Equal(silo.Silo.GatewayPort, only.GetProperty("gatewayPort").GetInt32());
        Assert.Contains($"trainingrun/{OneSiloFixture.BaseRun}", only.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task Versions_Json_ListsTheBaseVersionWithItsRunAndStages()
    {
        var versions = await VerbAsync("versions");

        var version = Assert.Single(versions.EnumerateArray(), v => v.GetProperty("name").GetString() == OneSiloFixture.BaseVersion);
        Assert.Equal(OneSiloFixture.BaseRun, version.GetProperty("runId").GetString());
        Assert.Equal(6, version.GetProperty("step").GetInt64());
        Assert.Equal(2, version.GetProperty("stages").GetInt32());
    }

    [Fact]
    public async Task Generate_Json_ReturnsTheTokensWithProbabilitiesAndTheText()
    {
        var result = await VerbAsync("generate", "--version", OneSiloFixture.BaseVersion, "--greedy", "--max-tokens", "5", Prompt);

        Assert.Equal(Prompt, result.GetProperty("prompt").GetString());
        Assert.Equal("length", result.GetProperty("finishReason").GetString());
        var tokens = result.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(5, tokens.Count);
        Assert.All(tokens, t => Assert.InRange(t.GetProperty("probability").GetDouble(), 1e-9, 1.0));
        var text = string.Concat(tokens.Where(t => t.GetProperty("modelId").GetInt32() > 1).Select(t => t.GetProperty("text").GetString()));
        Assert.Equal(text, result.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Generate_TemperatureZero_ExitsTwoWithTheMessage()
    {
        var run = await CliRun.RunAsync("generate", "--gateway", silo.Gateway, "--version", OneSiloFixture.BaseVersion, "--temperature", "0", Prompt);

        run.AssertUsageError();
        Assert.Contains("Temperature must be a positive finite number", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InspectQkv_Json_WeightsSumToOneOverTheUnmaskedTokens()
    {
        var view = await VerbAsync("inspect", "qkv", "--version", OneSiloFixture.BaseVersion, "--layer", "0", "--head", "1", Prompt);

        var count = view.GetProperty("tokens").GetArrayLength();
        Assert.Equal(count - 1, view.GetProperty("token").GetInt32()); // the last token by default
        Assert.Equal(1, view.GetProperty("head").GetInt32());
        var weights = view.GetProperty("weights").EnumerateArray().Select(w => w.GetDouble()).ToList();
        Assert.Equal(count, weights.Count);
        Assert.Equal(1.0, weights.Sum(), 1e-6);
        Assert.All(view.GetProperty("masked").EnumerateArray(), m => Assert.False(m.GetBoolean()));
    }

    /// <summary>Runs the verb with <c>--json</c> at the fixture's gateway; it must exit 0 and write one JSON document.</summary>
    private async Task<JsonElement> VerbAsync(params string[] verb)
    {
        var run = await CliRun.RunAsync([.. verb, "--gateway", silo.Gateway, "--json"]);
        Assert.True(run.ExitCode == ExitCodes.Success, $"{string.Join(' ', verb)}: exit {run.ExitCode}\n{run.Stderr}");
        using var document = JsonDocument.Parse(run.Stdout);
        return document.RootElement.Clone();
    }
}
