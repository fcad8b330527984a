using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Rlhf;
using MassTransit;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// Rankings sent over RabbitMQ are accepted while no silo is up: Redis, a private RabbitMQ broker and two silo
/// processes; every silo is killed, 400 rankings (and 40 resends, and 5 of unknown tasks) are sent to the durable
/// <c>submit-ranking</c> queue, a new cluster starts on the same Redis and broker and stores them, one of its silos is
/// killed while it does. Every ranking is stored exactly once with the order sent; the bad ones are answered with
/// <see cref="RankingRejected"/>.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class RankingsOverTheBusTests(RedisServerFixture redis, RabbitMqServerFixture rabbit, ITestOutputHelper output)
    : IClassFixture<RedisServerFixture>, IClassFixture<RabbitMqServerFixture>
{
    private const int Tasks = 20;
    private const int Annotators = 20;
    private const string Version = "bus-base";

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RankingsSentWhileEverySiloIsDown_AreStoredOnceWhenANewClusterStarts_EvenIfOneOfItsSilosDies()
    {
        var logs = Directory.CreateTempSubdirectory("insidellms-bus-").FullName;
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(RankingsOverTheBusTests).Assembly);
        Dictionary<string, string> Configuration(string clusterId) => new()
        {
            ["Silo:Clustering"] = "redis",
            ["Silo:Storage"] = "redis",
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Orleans:ClusterId"] = clusterId,
            ["Bus:RabbitMq:Host"] = "127.0.0.1",
            ["Bus:RabbitMq:Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Training:AutoStart"] = "false",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
        };
        var silos = new List<SiloProcess>();
        var rejected = new ConcurrentBag<RankingRejected>();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host("127.0.0.1", (ushort)rabbit.Port, "/", h =>
            {
                h.Username("guest");
                h.Password("guest");
            });
            cfg.ReceiveEndpoint($"test-rejections-{Guid.NewGuid():N}", endpoint =>
            {
                endpoint.AutoDelete = true;
                endpoint.Handler<RankingRejected>(context =>
                {
                    rejected.Add(context.Message);
                    return Task.CompletedTask;
                });
            });
        });
        await bus.StartAsync();
        try
        {
            // The first cluster makes the tasks, then every one of its silos dies.
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(2, first: 400).Select(n =>
                SiloProcess.StartAsync(siloAssembly, n, Configuration($"bus-a-{Guid.NewGuid():N}"), logs, SiloStartTimeout))));
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail(30))) + "\n" + rabbit.Output()[^Math.Min(2000, rabbit.Output().Length)..];
            List<string> tasks;
            using (var http = new HttpClient { BaseAddress = silos[0].WebAddress, Timeout = TimeSpan.FromSeconds(120) })
            {
                await TinyVersion.PublishAsync(http, Version, diagnostics);
                using var created = await http.PostAsJsonAsync(new Uri("api/rlhf/tasks", UriKind.Relative), new { count = Tasks, k = 3, version = Version });
                Assert.True(created.IsSuccessStatusCode, $"create tasks: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");
                tasks = [.. (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(t => t.GetProperty("id").GetString()!)];
            }

            foreach (var silo in silos)
            {
                silo.Kill();
            }

            silos.Clear();

            // Sent with no silo up: the broker keeps them in the durable queue.
            var queue = await bus.GetSendEndpoint(new Uri("queue:submit-ranking"));
            var random = new Random(5);
            var sent = new Dictionary<(string Task, string Annotator), int[]>();
            foreach (var task in tasks)
            {
                for (var a = 0; a < Annotators; a++)
                {
                    int[] order = [.. Enumerable.Range(0, 3).OrderBy(_ => random.Next())];
                    sent[(task, $"bus-a{a}")] = order;
                    await queue.Send(new SubmitRanking(task, $"bus-a{a}", order, Simulated: true));
                }
            }

            foreach (var ((task, annotator), order) in sent.Take(40))
            {
                await queue.Send(new SubmitRanking(task, annotator, order, Simulated: true)); // a resend
            }

            for (var i = 0; i < 5; i++)
            {
                await queue.Send(new SubmitRanking($"task-does-not-exist-{i}", "bus-a0", [0, 1, 2], Simulated: true));
            }

            var clock = Stopwatch.StartNew();
            // A new cluster on the same Redis and broker; one of its silos dies while it drains the queue.
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(2, first: 420).Select(n =>
                SiloProcess.StartAsync(siloAssembly, n, Configuration($"bus-b-{Guid.NewGuid():N}"), logs, SiloStartTimeout))));
            output.WriteLine($"new cluster up {clock.Elapsed.TotalSeconds:F1} s after the rankings were sent");
            using var survivorHttp = new HttpClient { BaseAddress = silos[1].WebAddress, Timeout = TimeSpan.FromSeconds(30) };
            var killed = false;
            long stored = 0;
            while (stored < sent.Count)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(150), $"{stored} of {sent.Count} rankings stored after {clock.Elapsed.TotalSeconds:F0} s\n{diagnostics()}");
                using var response = await survivorHttp.GetAsync(new Uri("api/rlhf/rankings", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    stored = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rankings").GetInt64();
                }

                if (!killed && stored > 0)
                {
                    silos[0].Kill();
                    killed = true;
                    output.WriteLine($"silo {silos[0].Instance} killed at {clock.Elapsed.TotalSeconds:F1} s with {stored} stored");
                }

                await Task.Delay(250);
            }

            output.WriteLine($"all {sent.Count} stored {clock.Elapsed.TotalSeconds:F1} s after the new cluster started");
            Assert.True(killed, "the queue drained before a silo could be killed");
            var all = new List<JsonElement>();
            foreach (var task in tasks)
            {
                all.AddRange((await survivorHttp.GetFromJsonAsync<JsonElement>(new Uri($"api/rlhf/tasks/{task}/rankings", UriKind.Relative))).EnumerateArray());
            }

            Assert.Equal(sent.Count, all.Count);
            Assert.Equal(sent.Count, all.Select(r => (r.GetProperty("taskId").GetString(), r.GetProperty("annotator").GetString())).Distinct().Count());
            Assert.All(all, r => Assert.Equal(
                sent[(r.GetProperty("taskId").GetString()!, r.GetProperty("annotator").GetString()!)],
                r.GetProperty("order").EnumerateArray().Select(e => e.GetInt32())));
            for (var wait = Stopwatch.StartNew(); rejected.Count < 5 && wait.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(100))
            {
            }

            Assert.Equal(5, rejected.Count);
            Assert.All(rejected, r => Assert.StartsWith("Unknown ranking task 'task-does-not-exist-", r.Reason, StringComparison.Ordinal));
        }
        finally
        {
            await bus.StopAsync();
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }
}
