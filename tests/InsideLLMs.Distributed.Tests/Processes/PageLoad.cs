using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>What the load does and for how long; the spec is the run's JSON body.</summary>
public sealed record PageLoadOptions(
    TimeSpan Duration,
    object RunSpec,
    string RunId = "stress",
    TimeSpan? PublishEvery = null,
    TimeSpan? RollBackEvery = null,
    int GenerationSessions = 2,
    int InspectionLoops = 2,
    TimeSpan? SampleEvery = null,
    int MaxGeneratedTokens = 24);

/// <summary>Latency figures of one endpoint.</summary>
public sealed record EndpointFigures(string Endpoint, int Requests, int Errors, int Conflicts, double P50, double P90, double P99, double Max);

/// <summary>What a load run saw.</summary>
public sealed record PageLoadReport(
    long StepsAtStart,
    long StepsAtEnd,
    long StepsTaken,
    int RequestedRollBacks,
    IReadOnlyList<string> FailedSteps,
    IReadOnlyList<string> Crashes,
    string Phase,
    IReadOnlyList<EndpointFigures> Endpoints,
    IReadOnlyList<string> ErrorSamples,
    IReadOnlyList<(TimeSpan At, int Silo, double ResidentMegabytes)> Memory,
    TimeSpan Elapsed)
{
    /// <summary>Least-squares slope of each silo's resident memory after the first third of the run, in MB per minute.</summary>
    public IReadOnlyDictionary<int, double> MemorySlopes(double warmUpFraction = 1.0 / 3)
    {
        var slopes = new Dictionary<int, double>();
        foreach (var silo in Memory.Select(m => m.Silo).Distinct())
        {
            var after = Memory.Where(m => m.Silo == silo && m.At >= Elapsed * warmUpFraction).ToList();
            if (after.Count < 3)
            {
                continue;
            }

            var xs = after.Select(m => m.At.TotalMinutes).ToArray();
            var ys = after.Select(m => m.ResidentMegabytes).ToArray();
            var (mx, my) = (xs.Average(), ys.Average());
            var covariance = xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my));
            var variance = xs.Sum(x => (x - mx) * (x - mx));
            slopes[silo] = variance == 0 ? 0 : covariance / variance;
        }

        return slopes;
    }

    /// <summary>The report as a person reads it.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        var minutes = Elapsed.TotalMinutes;
        text.AppendLine(CultureInfo.InvariantCulture, $"elapsed {minutes:F1} min; run phase {Phase}; steps {StepsAtStart} -> {StepsAtEnd} ({StepsTaken} taken, {StepsTaken / Math.Max(Elapsed.TotalSeconds, 1):F2}/s, rollbacks replay some)");
        text.AppendLine(CultureInfo.InvariantCulture, $"requested rollbacks {RequestedRollBacks}; failed steps {FailedSteps.Count}; crashes {Crashes.Count}");
        foreach (var failure in FailedSteps.Concat(Crashes))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  ! {failure}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"{"endpoint",-28} {"requests",8} {"errors",6} {"409",5} {"p50 ms",8} {"p90 ms",8} {"p99 ms",8} {"max ms",8}");
        foreach (var e in Endpoints)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{e.Endpoint,-28} {e.Requests,8} {e.Errors,6} {e.Conflicts,5} {e.P50,8:F1} {e.P90,8:F1} {e.P99,8:F1} {e.Max,8:F1}");
        }

        foreach (var sample in ErrorSamples)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  error: {sample}");
        }

        foreach (var silo in Memory.Select(m => m.Silo).Distinct().Order())
        {
            var series = Memory.Where(m => m.Silo == silo).ToList();
            var every = Math.Max(1, series.Count / 12);
            var points = string.Join(", ", series.Where((_, i) => i % every == 0 || i == series.Count - 1)
                .Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.At.TotalMinutes:F1}m {m.ResidentMegabytes:F0}")));
            var slope = MemorySlopes().TryGetValue(silo, out var s) ? s : double.NaN;
            text.AppendLine(CultureInfo.InvariantCulture, $"silo {silo} resident MB: {points}; slope after warm-up {slope:F2} MB/min");
        }

        return text.ToString();
    }
}

/// <summary>
/// The load the walkthrough page puts on a cluster all day, over HTTP against real silo processes: a training run,
/// a version republished every few seconds, every inspection view of the live run and of the version (while it is
/// being republished), concurrent streamed generation sessions, status and history polling, and now and then a
/// rollback to the last checkpoint. It counts steps, failed steps (recoveries nobody asked for), crashes, requests and
/// their latency, and samples each silo process's resident memory.
/// </summary>
public static class PageLoad
{
    private const string Prompt = " the cat was happy because";

    /// <summary>A (2,2,4) run of a small model that checkpoints every 10 steps and validates every 50.</summary>
    public static Dictionary<string, object> Spec(int layers = 2, int width = 64, int heads = 2, int context = 32, int batchSize = 4) => new()
    {
        ["stages"] = 2, ["replicas"] = 2, ["microBatches"] = 4, ["layers"] = layers, ["width"] = width, ["heads"] = heads,
        ["context"] = context, ["batchSize"] = batchSize, ["steps"] = 1_000_000, ["warmupSteps"] = 10, ["checkpointInterval"] = 10,
        ["evalInterval"] = 50, ["evalBatches"] = 2, ["seed"] = 11,
    };

    /// <summary>glibc's heap checks: abort on a corrupt chunk, fill freed and new memory with a pattern, so a use after free shows at once.</summary>
    public static Dictionary<string, string> HeapChecks()
    {
        var checks = new Dictionary<string, string> { ["MALLOC_CHECK_"] = "3", ["MALLOC_PERTURB_"] = "165" };
        const string debugLibrary = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"; // glibc 2.34+ keeps MALLOC_CHECK_ here
        if (File.Exists(debugLibrary))
        {
            checks["LD_PRELOAD"] = debugLibrary;
        }

        return checks;
    }


    public static async Task<PageLoadReport> RunAsync(IReadOnlyList<SiloProcess> silos, PageLoadOptions options, Action<string> progress)
    {
        ArgumentNullException.ThrowIfNull(silos);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var clients = silos.Select(s => new HttpClient { BaseAddress = s.WebAddress, Timeout = TimeSpan.FromSeconds(60) }).ToArray();
        var recorder = new Recorder();
        var run = options.RunId;
        var version = $"{run}-v";
        var stable = $"{run}-gen";
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(options.Duration);
        try
        {
            var started = await clients[0].PostAsJsonAsync($"api/runs/{run}", options.RunSpec);
            if (!started.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"The run did not start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
            }

            var stepsAtStart = await WaitForStepAsync(clients[0], run, 1);
            await PublishAsync(clients[0], recorder, stable, run);
            await PublishAsync(clients[0], recorder, version, run);
            progress($"run {run} at step {stepsAtStart}; versions {stable} and {version} published; load for {options.Duration.TotalMinutes:F1} min");

            var memory = new List<(TimeSpan, int, double)>();
            var crashes = new List<string>();
            var rollBacks = 0;
            var loops = new List<Task>
            {
                Every(options.PublishEvery ?? TimeSpan.FromSeconds(10), stop.Token, () => PublishAsync(clients[0], recorder, version, run)),
                Every(options.RollBackEvery ?? TimeSpan.FromMinutes(2), stop.Token, async () =>
                {
                    if (await recorder.TimeAsync("POST rollback", () => clients[0].PostAsync($"api/runs/{run}/rollback", null)))
                    {
                        Interlocked.Increment(ref rollBacks);
                    }
                }),
                Every(options.SampleEvery ?? TimeSpan.FromSeconds(5), stop.Token, async () =>
                {
                    for (var i = 0; i < silos.Count; i++)
                    {
                        if (silos[i].HasExited)
                        {
                            if (!crashes.Any(c => c.StartsWith($"silo {silos[i].Instance} ", StringComparison.Ordinal)))
                            {
                                crashes.Add($"silo {silos[i].Instance} exited at {clock.Elapsed.TotalMinutes:F1} min:\n{silos[i].Tail(30)}");
                            }

                            continue;
                        }

                        if (ResidentMegabytes(silos[i].ProcessId) is { } rss)
                        {
                            lock (memory)
                            {
                                memory.Add((clock.Elapsed, silos[i].Instance, rss));
                            }
                        }
                    }

                    var client = clients[Random.Shared.Next(clients.Length)];
                    await recorder.TimeAsync("GET status", () => client.GetAsync($"api/runs/{run}"));
                    await recorder.TimeAsync("GET history", () => client.GetAsync($"api/runs/{run}/history?after=0"));
                    await recorder.TimeAsync("GET cluster", () => client.GetAsync("api/cluster"));
                    await recorder.TimeAsync("GET run embeddings", () => client.GetAsync($"api/runs/{run}/embeddings"));
                    progress($"{clock.Elapsed.TotalMinutes:F1} min: {recorder.Total} requests, {recorder.TotalErrors} errors");
                }),
            };
            for (var i = 0; i < options.InspectionLoops; i++)
            {
                var client = clients[i % clients.Length];
                var source = i % 2 == 0 ? $"live:{run}" : version;
                loops.Add(Forever(stop.Token, () => InspectAsync(client, recorder, source, source.StartsWith("live:", StringComparison.Ordinal) ? "live" : "version")));
            }

            for (var i = 0; i < options.GenerationSessions; i++)
            {
                var client = clients[(i + 1) % clients.Length];
                var target = i % 2 == 0 ? stable : version;
                var seed = i;
                loops.Add(Forever(stop.Token, () => GenerateAsync(client, recorder, target, Interlocked.Increment(ref seed), options.MaxGeneratedTokens)));
            }

            await Task.WhenAll(loops);
            if (await FinalStatusAsync(clients, run) is not { } status)
            {
                return new PageLoadReport(
                    stepsAtStart, -1, 0, rollBacks, ["no silo answers for the run's status at the end"], crashes, "unreachable",
                    recorder.Figures(), recorder.ErrorSamples, memory, clock.Elapsed);
            }

            var recoveries = status.GetProperty("recoveryLog").EnumerateArray()
                .Select(r => (Cause: r.GetProperty("cause").GetString() ?? "", Failed: r.GetProperty("failedAtStep").GetInt64(), Resumed: r.GetProperty("resumedFromStep").GetInt64()))
                .ToList();
            var failed = recoveries.Where(r => r.Cause != "rollback requested").Select(r => $"step {r.Failed}: {r.Cause}").ToList();
            var stepsAtEnd = status.GetProperty("step").GetInt64();
            var replayed = recoveries.Sum(r => r.Failed - r.Resumed); // steps that ran twice because of a rollback
            return new PageLoadReport(
                stepsAtStart, stepsAtEnd, stepsAtEnd - stepsAtStart + replayed, rollBacks, failed, crashes, status.GetProperty("phase").GetString() ?? "",
                recorder.Figures(), recorder.ErrorSamples, memory, clock.Elapsed);
        }
        finally
        {
            foreach (var client in clients)
            {
                try
                {
                    using var _ = await client.PostAsync($"api/runs/{run}/stop", null);
                }
                catch (HttpRequestException)
                {
                    // the silo is gone: the report says so
                }

                client.Dispose();
            }
        }
    }

    private static async Task<JsonElement?> FinalStatusAsync(HttpClient[] clients, string run)
    {
        foreach (var client in clients)
        {
            try
            {
                return await client.GetFromJsonAsync<JsonElement>($"api/runs/{run}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // a silo that crashed: ask the next
            }
        }

        return null;
    }

    private static async Task InspectAsync(HttpClient client, Recorder recorder, string source, string label)
    {
        var prompt = Uri.EscapeDataString(Prompt);
        var views = new (string Name, string Path)[]
        {
            ("attention", $"attention?prompt={prompt}"),
            ("qkv", $"qkv?prompt={prompt}&layer=1&head=1&token=2"),
            ("next", $"next?prompt={prompt}&temperature=0.8&topK=5&topP=0.9"),
            ("embeddings", "embeddings"),
            ("lens", $"lens?prompt={prompt}"),
            ("neighbours", "neighbours?token=cat&count=5"),
            ("tokenize", $"tokenize?text={prompt}"),
        };
        foreach (var (name, path) in views)
        {
            await recorder.TimeAsync($"GET {label} {name}", () => client.GetAsync($"api/inspect/{Uri.EscapeDataString(source)}/{path}"));
        }

        if (label == "version")
        {
            await recorder.TimeAsync("GET version architecture", () => client.GetAsync($"api/inspect/{Uri.EscapeDataString(source)}/architecture"));
        }
    }

    private static async Task GenerateAsync(HttpClient client, Recorder recorder, string version, int seed, int maxTokens)
    {
        var body = new { prompt = Prompt, temperature = 0.9, topK = 20, seed, maxTokens };
        await recorder.TimeAsync($"POST generate {(version.EndsWith("-gen", StringComparison.Ordinal) ? "stable" : "republished")}", async () =>
        {
            var response = await client.PostAsJsonAsync($"api/versions/{version}/generate?stream=true", body);
            if (!response.IsSuccessStatusCode)
            {
                return response;
            }

            // Read the whole stream: the last line is an error when the version was republished meanwhile.
            var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length > 0 && lines[^1].Contains("\"error\"", StringComparison.Ordinal))
            {
                return new HttpResponseMessage(HttpStatusCode.Conflict) { Content = new StringContent(lines[^1]) };
            }

            return response;
        });
    }

    private static async Task PublishAsync(HttpClient client, Recorder recorder, string version, string run) =>
        await recorder.TimeAsync("POST publish", () => client.PostAsJsonAsync($"api/versions/{version}", new { runId = run }));

    private static async Task<long> WaitForStepAsync(HttpClient client, string run, long step)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = await client.GetFromJsonAsync<JsonElement>($"api/runs/{run}");
            if (status.GetProperty("step").GetInt64() >= step)
            {
                return status.GetProperty("step").GetInt64();
            }

            if (status.GetProperty("phase").GetString() is "Failed" or "Stopped" || waited.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new InvalidOperationException($"Run {run} never reached step {step}: {status}");
            }

            await Task.Delay(200);
        }
    }

    private static async Task Every(TimeSpan interval, CancellationToken stop, Func<Task> action)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await action();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static async Task Forever(CancellationToken stop, Func<Task> action)
    {
        while (!stop.IsCancellationRequested)
        {
            await action();
        }
    }

    /// <summary>VmRSS of a process from /proc, in MB; null once it is gone.</summary>
    public static double? ResidentMegabytes(int processId)
    {
        try
        {
            var line = File.ReadLines($"/proc/{processId}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Latencies by endpoint; a 409 is a conflict the API explains (a version republished during a generation).</summary>
    private sealed class Recorder
    {
        private readonly Dictionary<string, (List<double> Times, int Errors, int Conflicts)> _endpoints = [];
        private readonly List<string> _errors = [];

        public int Total
        {
            get
            {
                lock (_endpoints)
                {
                    return _endpoints.Values.Sum(e => e.Times.Count);
                }
            }
        }

        public int TotalErrors
        {
            get
            {
                lock (_endpoints)
                {
                    return _endpoints.Values.Sum(e => e.Errors);
                }
            }
        }

        public IReadOnlyList<string> ErrorSamples
        {
            get
            {
                lock (_endpoints)
                {
                    return [.. _errors];
                }
            }
        }

        /// <summary>Runs one request and files its time; true when it succeeded.</summary>
        public async Task<bool> TimeAsync(string endpoint, Func<Task<HttpResponseMessage>> request)
        {
            var started = Stopwatch.GetTimestamp();
            string? error = null;
            var conflict = false;
            try
            {
                using var response = await request();
                if (response.StatusCode == HttpStatusCode.Conflict)
                {
                    conflict = true;
                }
                else if (!response.IsSuccessStatusCode)
                {
                    error = $"{endpoint}: {(int)response.StatusCode} {Truncate(await response.Content.ReadAsStringAsync())}";
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                error = $"{endpoint}: {e.GetType().Name} {Truncate(e.Message)}";
                await Task.Delay(100); // a silo that is gone refuses at once: do not spin
            }

            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            lock (_endpoints)
            {
                var entry = _endpoints.GetValueOrDefault(endpoint, ([], 0, 0));
                entry.Times.Add(elapsed);
                _endpoints[endpoint] = (entry.Times, entry.Errors + (error is null ? 0 : 1), entry.Conflicts + (conflict ? 1 : 0));
                if (error is not null && _errors.Count < 20)
                {
                    _errors.Add(error);
                }
            }

            return error is null && !conflict;
        }

        public IReadOnlyList<EndpointFigures> Figures()
        {
            lock (_endpoints)
            {
                return [.. _endpoints.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e =>
                {
                    var sorted = e.Value.Times.Order().ToArray();
                    return new EndpointFigures(e.Key, sorted.Length, e.Value.Errors, e.Value.Conflicts,
                        Percentile(sorted, 0.5), Percentile(sorted, 0.9), Percentile(sorted, 0.99), sorted[^1]);
                })];
            }
        }

        private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

        private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "...";
    }
}
