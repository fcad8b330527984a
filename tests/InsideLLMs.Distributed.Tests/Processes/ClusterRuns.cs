using System.Diagnostics;
using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Contracts;
using InsideLLMs.Distributed.Contracts.Training;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using StackExchange.Redis;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// What the tests against real silos (processes or containers) share: an Orleans client that finds them in Redis, a poll
/// of a run's status that rides out a lost silo, and a bit-for-bit comparison of two runs' weights.
/// </summary>
public static class ClusterRuns
{
    /// <summary>A started client of cluster <paramref name="clusterId"/> whose membership is in Redis at <paramref name="redis"/>: it learns every gateway and drops dead ones, as the silos do.</summary>
    /// <param name="responseTimeout">How long a call waits for its answer (Orleans' default when null).</param>
    public static async Task<IHost> StartClientAsync(string redis, string clusterId, TimeSpan? responseTimeout = null)
    {
        var host = new HostBuilder()
            .UseOrleansClient(client =>
            {
                client.UseRedisClustering(options => options.ConfigurationOptions = ConfigurationOptions.Parse(redis));
                client.Configure<ClusterOptions>(options =>
                {
                    options.ClusterId = clusterId;
                    options.ServiceId = ClusterNames.ServiceId;
                });
                if (responseTimeout is { } timeout)
                {
                    client.Configure<ClientMessagingOptions>(options => options.ResponseTimeout = timeout);
                }
            })
            .Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>
    /// A silo process's configuration for failover tests: Redis clustering and storage, one compute worker of one thread,
    /// and the logs a failure message and a recovery timeline need (millisecond timestamps, membership changes).
    /// </summary>
    public static Dictionary<string, string> SiloConfiguration(string redis, string clusterId) => new()
    {
        ["Silo:Clustering"] = "redis",
        ["Silo:Storage"] = "redis",
        ["Redis:ConnectionString"] = redis,
        ["Orleans:ClusterId"] = clusterId,
        ["Compute:Workers"] = "1",
        ["Compute:TorchThreadsPerWorker"] = "1",
        ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
        ["Logging:LogLevel:Orleans.Runtime.MembershipService"] = "Information",
        ["Logging:LogLevel:InsideLLMs"] = "Debug",
    };

    /// <summary>
    /// Polls the run's status (nothing else) until <paramref name="done"/> holds; a call that fails (the run's grain is
    /// unreachable for a few seconds during a failover) is polled again. Fails after <paramref name="timeout"/> with
    /// the last status and <paramref name="diagnostics"/>.
    /// </summary>
    public static async Task<RunStatus> PollUntilAsync(ITrainingRunGrain run, Func<RunStatus, bool> done, TimeSpan timeout, Func<string> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(done);
        ArgumentNullException.ThrowIfNull(diagnostics);
        var waited = Stopwatch.StartNew();
        RunStatus? status = null;
        while (true)
        {
            try
            {
                status = await run.GetStatusAsync();
                if (done(status))
                {
                    return status;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // the run's grain is being moved or woken again
            }

            Assert.True(waited.Elapsed < timeout, $"run still {status?.Phase} at step {status?.Step} after {timeout.TotalSeconds:F0} s\n{diagnostics()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Each parameter's floats by name.</summary>
    public static Dictionary<string, float[]> Floats(IReadOnlyList<NamedTensor> parameters) =>
        parameters.ToDictionary(p => p.Name, p => MemoryMarshal.Cast<byte, float>(p.Tensor.Data).ToArray());

    /// <summary>How many of <paramref name="expected"/>'s tensors <paramref name="actual"/> holds bit for bit, of how many, and the largest difference; the names must match.</summary>
    public static (int Identical, int Total, double Worst) Compare(IReadOnlyList<NamedTensor> expected, IReadOnlyList<NamedTensor> actual)
    {
        var want = Floats(expected);
        var got = Floats(actual);
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        var identical = 0;
        double worst = 0;
        foreach (var (name, values) in want)
        {
            worst = Math.Max(worst, values.Zip(got[name], (a, b) => Math.Abs((double)a - b)).Max());
            identical += values.AsSpan().SequenceEqual(got[name]) ? 1 : 0;
        }

        return (identical, want.Count, worst);
    }
}
