using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Rlhf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// Rankings survive a silo's death: Redis and three silo processes, 8 concurrent clients submitting 5,000+ rankings
/// (and resubmitting some) while one silo is killed with <c>kill -9</c>. A client retries a submission until it is
/// acknowledged. Afterwards every acknowledged ranking is stored exactly once with its receipt, none is lost, none is
/// counted twice, and every resubmission got the first receipt back.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class RankingDurabilityTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private const int Clients = 8;
    private const int AnnotatorsPerClient = 11;
    private const int Tasks = 60;
    private const int K = 3;
    private const string Version = "ranking-base";

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task EightClientsSubmit5280Rankings_WhileASiloIsKilled_EachAcknowledgedRankingIsStoredExactlyOnce()
    {
        var clusterId = $"rankings-{Guid.NewGuid():N}";
        var logs = Directory.CreateTempSubdirectory("insidellms-rankings-").FullName;
        var configuration = new Dictionary<string, string>
        {
            ["Silo:Clustering"] = "redis",
            ["Silo:Storage"] = "redis",
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Orleans:ClusterId"] = clusterId,
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Training:AutoStart"] = "false",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
        };
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(RankingDurabilityTests).Assembly);
        var silos = new List<SiloProcess>();
        var hosts = new List<IHost>();
        try
        {
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(3, first: 360).Select(n =>
                SiloProcess.StartAsync(siloAssembly, n, configuration, logs, SiloStartTimeout))));
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail(30)));
            using var http = new HttpClient { BaseAddress = silos[0].WebAddress, Timeout = TimeSpan.FromSeconds(120) };
            await TinyVersion.PublishAsync(http, Version, diagnostics);
            using var created = await http.PostAsJsonAsync(new Uri("api/rlhf/tasks", UriKind.Relative), new { count = Tasks, k = K, version = Version });
            Assert.True(created.IsSuccessStatusCode, $"create tasks: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}\n{diagnostics()}");
            var tasks = (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(t => t.GetProperty("id").GetString()!).ToList();

            for (var c = 0; c < Clients; c++)
            {
                hosts.Add(await ClusterRuns.StartClientAsync(redis.ConnectionString, clusterId, responseTimeout: TimeSpan.FromSeconds(5)));
            }

            var acknowledged = new ConcurrentDictionary<(string Task, string Annotator), RankingReceipt>();
            var resubmissions = new ConcurrentBag<(RankingReceipt First, RankingReceipt Again)>();
            var failures = new ConcurrentBag<string>();
            var total = Tasks * Clients * AnnotatorsPerClient;
            var clock = Stopwatch.StartNew();
            var killAt = total / 4;
            var killed = new TaskCompletionSource<TimeSpan>();
            var submitters = hosts.Select((host, c) => Task.Run(async () =>
            {
                var grains = host.Services.GetRequiredService<IClusterClient>();
                var random = new Random(c);
                var work = tasks.SelectMany(task => Enumerable.Range(0, AnnotatorsPerClient).Select(a => (Task: task, Annotator: $"c{c}-a{a}")))
                    .OrderBy(_ => random.Next()).ToList();
                foreach (var (task, annotator) in work)
                {
                    int[] order = [.. Enumerable.Range(0, K).OrderBy(_ => random.Next())];
                    var receipt = await UntilAcknowledgedAsync(grains, task, annotator, order, failures, clock);
                    Assert.True(acknowledged.TryAdd((task, annotator), receipt), $"{task} by {annotator} acknowledged twice in the test");
                    if (receipt.Duplicate)
                    {
                        // The first try was stored but its answer was lost (the silo died): the retry got the stored receipt.
                        failures.Add($"{task} by {annotator}: first answer lost, the retry returned the stored receipt");
                    }

                    if (acknowledged.Count == killAt)
                    {
                        var victim = silos[1];
                        victim.Kill();
                        killed.TrySetResult(clock.Elapsed);
                    }

                    if (random.NextDouble() < 0.05)
                    {
                        int[] other = [.. order.Reverse()];
                        resubmissions.Add((receipt, await UntilAcknowledgedAsync(grains, task, annotator, other, failures, clock)));
                    }

                    Assert.True(clock.Elapsed < Deadline, $"submissions still running after {Deadline.TotalMinutes} min\n{diagnostics()}");
                }
            })).ToList();
            await Task.WhenAll(submitters);
            var elapsed = clock.Elapsed;
            Assert.True(killed.Task.IsCompleted, "the silo was never killed");
            var killedAt = await killed.Task;
            output.WriteLine($"{acknowledged.Count} rankings acknowledged by {Clients} clients in {elapsed.TotalSeconds:F1} s " +
                $"({acknowledged.Count / elapsed.TotalSeconds:F0}/s); silo {silos[1].Instance} killed at {killedAt.TotalSeconds:F1} s; " +
                $"{failures.Count} failed tries retried; {resubmissions.Count} resubmissions");
            foreach (var kind in failures.GroupBy(f => f[(f.LastIndexOf(": ", StringComparison.Ordinal) + 2)..]))
            {
                output.WriteLine($"  {kind.Count()} x {kind.Key}");
            }

            // Read everything back through a client that starts now: the task grains on the dead silo come back from Redis.
            var readerHost = await ClusterRuns.StartClientAsync(redis.ConnectionString, clusterId, responseTimeout: TimeSpan.FromSeconds(5));
            hosts.Add(readerHost);
            var reader = readerHost.Services.GetRequiredService<IClusterClient>();
            var stored = new List<RankingReceipt>();
            foreach (var task in tasks)
            {
                stored.AddRange(await reader.GetGrain<IRankingTaskGrain>(task).GetRankingsAsync());
            }

            Assert.Equal(total, acknowledged.Count);
            var duplicates = stored.GroupBy(r => (r.TaskId, r.Annotator)).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicates.Count == 0, $"stored twice: {string.Join(", ", duplicates.Take(5))}");
            Assert.Equal(acknowledged.Count, stored.Count); // none lost, none extra
            var byKey = stored.ToDictionary(r => (r.TaskId, r.Annotator));
            foreach (var ((task, annotator), receipt) in acknowledged)
            {
                var kept = byKey[(task, annotator)];
                Assert.Equal(receipt.ReceiptId, kept.ReceiptId);
                Assert.Equal(receipt.Order, kept.Order);
            }

            Assert.All(stored.GroupBy(r => r.TaskId), g => Assert.Equal(Enumerable.Range(1, g.Count()), g.Select(r => r.Sequence).Order()));
            Assert.NotEmpty(resubmissions);
            Assert.All(resubmissions, pair =>
            {
                Assert.True(pair.Again.Duplicate);
                Assert.Equal(pair.First.ReceiptId, pair.Again.ReceiptId);
                Assert.Equal(pair.First.Order, pair.Again.Order);
            });
            var summary = await reader.GetGrain<IRankingBoardGrain>(RankingNames.Board).GetSummaryAsync();
            Assert.Equal(total, summary.Rankings);
            Assert.Equal(Tasks, summary.TasksRankedBySeveral);
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync();
                host.Dispose();
            }

            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    /// <summary>Submits until the cluster acknowledges; each failed try (a lost silo, a timeout) is recorded and retried.</summary>
    private static async Task<RankingReceipt> UntilAcknowledgedAsync(
        IClusterClient grains, string task, string annotator, int[] order, ConcurrentBag<string> failures, Stopwatch clock)
    {
        while (true)
        {
            try
            {
                return await grains.GetGrain<IRankingTaskGrain>(task).SubmitAsync(annotator, order, simulated: true);
            }
            catch (Exception e) when (e is not ArgumentException && clock.Elapsed < Deadline)
            {
                failures.Add($"{task} by {annotator}: {e.GetType().Name}");
                await Task.Delay(100);
            }
        }
    }
}
