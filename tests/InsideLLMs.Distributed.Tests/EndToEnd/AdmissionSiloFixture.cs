using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using InsideLLMs.Distributed.Tests.Processes;
using StackExchange.Redis;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// One real silo process with tight admission settings and Redis storage, so that what a refused request leaves behind
/// can be read in the store itself: a 1 GB memory budget, two active runs, two generation sessions, and a data directory
/// holding a text corpus, a binary file, a Latin-1 file and links out of it. A small run is published as
/// <see cref="Version"/> (context 32) for the generation limits.
/// </summary>
public sealed class AdmissionSiloFixture : IAsyncLifetime
{
    public const string Version = "admission-base";

    public const string MemoryBudget = "1GB";

    public const int Context = 32;

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    private readonly RedisServerFixture _redis = new();
    private SiloProcess? _silo;
    private ConnectionMultiplexer? _store;

    public HttpClient Http { get; private set; } = null!;

    public string Gateway => $"127.0.0.1:{Silo.GatewayPort}";

    public SiloProcess Silo => _silo ?? throw new InvalidOperationException("The silo has not started.");

    /// <summary>The silo's <c>Data:Directory</c>.</summary>
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("insidellms-admission-data-").FullName;

    /// <summary>A directory beside it holding <c>secret.txt</c>, which links in the data directory point at.</summary>
    public string Outside { get; } = Directory.CreateTempSubdirectory("insidellms-admission-outside-").FullName;

    /// <summary>A one-stage model small enough to train in a second: 1 layer x 2 heads x 16, context 32.</summary>
    public static Dictionary<string, object> TinySpec(int steps = 3) => new()
    {
        ["stages"] = 1, ["replicas"] = 1, ["microBatches"] = 1, ["layers"] = 1, ["width"] = 16, ["heads"] = 2, ["context"] = Context,
        ["batchSize"] = 2, ["steps"] = steps, ["warmupSteps"] = 1, ["checkpointInterval"] = 0, ["evalInterval"] = 0, ["seed"] = 3,
    };

    public async Task InitializeAsync()
    {
        WriteDataDirectory();
        await _redis.InitializeAsync();
        _store = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        var instance = LocalPorts.FreeSiloInstances(1, first: 280)[0];
        var logs = Directory.CreateTempSubdirectory("insidellms-admission-").FullName;
        var configuration = new Dictionary<string, string>
        {
            ["Training:AutoStart"] = "false", // the tests start their own runs
            ["Silo:Storage"] = "redis",
            ["Redis:ConnectionString"] = _redis.ConnectionString,
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Compute:MemoryBudget"] = MemoryBudget,
            ["Training:MaxActiveRuns"] = "2",
            ["Inference:MaxSessions"] = "2",
            ["Data:Directory"] = DataDirectory,
            ["Data:MaxCorpusBytes"] = "100000",
        };
        _silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(AdmissionSiloFixture).Assembly), instance, configuration, logs, SiloStartTimeout);
        Http = new HttpClient { BaseAddress = _silo.WebAddress, Timeout = TimeSpan.FromSeconds(60) };

        const string run = "admission-base-run";
        using var started = await Http.PostAsJsonAsync(new Uri($"api/runs/{run}", UriKind.Relative), TinySpec());
        Assert.True(started.IsSuccessStatusCode, $"POST run: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        var status = await WaitForRunAsync(run);
        Assert.True(status.GetProperty("phase").GetString() == "Completed", $"the base run ended {status}\n{Silo.Tail()}");
        using var published = await Http.PostAsJsonAsync(new Uri($"api/versions/{Version}", UriKind.Relative), new { runId = run, stages = 1 });
        Assert.True(published.IsSuccessStatusCode, $"publish: {(int)published.StatusCode} {await published.Content.ReadAsStringAsync()}");
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }

        _store?.Dispose();
        await _redis.DisposeAsync();
        Directory.Delete(DataDirectory, recursive: true);
        Directory.Delete(Outside, recursive: true);
    }

    /// <summary>Polls the run's status until it has left Starting/Running/Recovering; fails after a minute.</summary>
    public async Task<JsonElement> WaitForRunAsync(string runId)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = await Http.GetFromJsonAsync<JsonElement>(new Uri($"api/runs/{runId}", UriKind.Relative));
            if (status.GetProperty("phase").GetString() is not ("Starting" or "Running" or "Recovering"))
            {
                return status;
            }

            Assert.True(waited.Elapsed < RunTimeout, $"run {runId} still {status.GetProperty("phase")} after {RunTimeout.TotalSeconds:F0} s\n{Silo.Tail()}");
            await Task.Delay(50);
        }
    }

    /// <summary>Every key in the store, with each value (strings and hash fields) as text.</summary>
    public async Task<IReadOnlyList<(string Key, string Value)>> StoreAsync()
    {
        var database = _store!.GetDatabase();
        var entries = new List<(string, string)>();
        foreach (var key in _store.GetServers().Single().Keys(pattern: "*"))
        {
            var value = await database.KeyTypeAsync(key) switch
            {
                RedisType.String => (string?)await database.StringGetAsync(key) ?? "",
                RedisType.Hash => string.Join('\n', (await database.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}")),
                var type => type.ToString(),
            };
            entries.Add((key.ToString(), value));
        }

        return entries;
    }

    private void WriteDataDirectory()
    {
        var poems = Directory.CreateDirectory(Path.Combine(DataDirectory, "poems")).FullName;
        var lines = new StringBuilder();
        for (var i = 0; i < 60; i++)
        {
            lines.Append(Line(i)).Append('\n');
        }

        File.WriteAllText(Path.Combine(poems, "sonnets.txt"), lines.ToString());
        File.WriteAllText(Path.Combine(Outside, "secret.txt"), "a file the silo can read but must not train on\n");
        File.CreateSymbolicLink(Path.Combine(DataDirectory, "secret.txt"), Path.Combine(Outside, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(DataDirectory, "elsewhere"), Outside);
        // A zip file's first bytes: valid UTF-8 up to its first NUL.
        File.WriteAllBytes(Path.Combine(DataDirectory, "archive.zip"), [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00]);
        File.WriteAllBytes(Path.Combine(DataDirectory, "latin1.txt"), [.. "caf"u8, 0xE9, .. " au lait\n"u8]);
        File.WriteAllText(Path.Combine(DataDirectory, "huge.txt"), new string('x', 100_001));
    }

    private static string Line(int i) => (i % 4) switch
    {
        0 => "shall i compare thee to a summer's day",
        1 => "thou art more lovely and more temperate",
        2 => "rough winds do shake the darling buds of may",
        _ => "and summer's lease hath all too short a date",
    };
}

[CollectionDefinition(Name)]
public sealed class AdmissionSiloCollection : ICollectionFixture<AdmissionSiloFixture>
{
    public const string Name = "admission silo process";
}
