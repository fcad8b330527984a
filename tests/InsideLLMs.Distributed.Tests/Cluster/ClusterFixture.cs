using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace InsideLLMs.Distributed.Tests.Cluster;

/// <summary>Two in-process silos with memory storage and one compute worker each (1 libtorch thread per worker).</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    /// <summary>The ranking tasks' clock in both silos: tests move it forward to expire tasks.</summary>
    public ShiftedRlhfClock Clock { get; } = new();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(TrainingStorage.ProviderName, options => options.UseOrleansStateSerializer());
            silo.Services.AddSingleton(new ComputeOptions { Workers = 1, TorchThreadsPerWorker = 1 });
            silo.Services.AddSingleton<RlhfClock>(Clock);
            silo.Services.AddTrainingServices();
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>The real time plus a shift the test sets.</summary>
public sealed class ShiftedRlhfClock : RlhfClock
{
    private long _shiftTicks;

    public override DateTimeOffset UtcNow => base.UtcNow + TimeSpan.FromTicks(Interlocked.Read(ref _shiftTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _shiftTicks, by.Ticks);
}
