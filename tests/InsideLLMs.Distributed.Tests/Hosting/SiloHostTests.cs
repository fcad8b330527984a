using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Silo.Extensions;
using InsideLLMs.Distributed.Silo.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Storage;

namespace InsideLLMs.Distributed.Tests.Hosting;

/// <summary>The silo's service wiring, built but never started: nothing listens and nothing connects.</summary>
public sealed class SiloHostTests
{
    [Fact]
    public async Task Build_RedisClusteringAndStorage_RegistersRedisProvidersUnderTheTrainingName()
    {
        // Port 1 answers nothing: resolving the providers must not need Redis.
        await using var app = Build("--Silo:Clustering", "redis", "--Silo:Storage", "redis", "--Redis:ConnectionString", "127.0.0.1:1");

        var storage = app.Services.GetRequiredKeyedService<IGrainStorage>(TrainingStorage.ProviderName);
        Assert.Equal("RedisGrainStorage", storage.GetType().Name);
        var membership = app.Services.GetRequiredService<IMembershipTable>();
        Assert.Equal("RedisMembershipTable", membership.GetType().Name);
    }

    [Fact]
    public async Task Build_Defaults_MemoryStorageBusPublisherAndSupervisor()
    {
        await using var app = Build();

        var storage = app.Services.GetRequiredKeyedService<IGrainStorage>(TrainingStorage.ProviderName);
        Assert.Equal("MemoryGrainStorage", storage.GetType().Name);
        Assert.IsType<BusTrainingEventPublisher>(app.Services.GetRequiredService<ITrainingEventPublisher>());
        Assert.Contains(app.Services.GetServices<IHostedService>(), s => s is TrainingSupervisor);
        Assert.NotNull(app.Services.GetService<ComputeOptions>());
    }

    [Fact]
    public async Task Build_Instance3_ListensOnWebPort5083()
    {
        await using var app = Build("--instance", "3");

        var settings = app.Services.GetRequiredService<SiloSettings>();
        Assert.Equal((11114, 30003), (settings.SiloPort, settings.GatewayPort));
        Assert.Equal("http://127.0.0.1:5083", app.Configuration["urls"]);
    }

    private static WebApplication Build(params string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = Environments.Development });
        builder.AddInsideLlmsSilo(args);
        return builder.Build();
    }
}
