using System.Net;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Silo.Extensions;
using InsideLLMs.Distributed.Silo.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
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

    [Fact]
    public async Task Build_Kubernetes_RedisMembershipAdvertisesThePodIpAndListensOnEveryAddress()
    {
        // Orleans' Kubernetes hosting reads the pod's variables from the process environment, as a pod sets them. Only
        // Kubernetes clustering reads them, so other tests running meanwhile are unaffected.
        foreach (var (key, value) in SiloSettingsTests.Pod().Where(p => p.Key.Contains('_', StringComparison.Ordinal)))
        {
            Environment.SetEnvironmentVariable(key, value);
        }

        await using var app = Build("--Silo:Clustering", "kubernetes", "--Redis:ConnectionString", "127.0.0.1:1",
            "--Urls", "http://0.0.0.0:8080", "--Api:Token", Token, "--Silo:ShutdownTimeoutSeconds", "45");

        Assert.Equal("RedisMembershipTable", app.Services.GetRequiredService<IMembershipTable>().GetType().Name);
        var endpoints = app.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Parse("10.244.1.17"), endpoints.AdvertisedIPAddress);
        Assert.Equal((11111, 30000), (endpoints.SiloPort, endpoints.GatewayPort));
        Assert.Equal(IPAddress.Any, endpoints.SiloListeningEndpoint?.Address);
        var cluster = app.Services.GetRequiredService<IOptions<ClusterOptions>>().Value;
        Assert.Equal(("prod", "svc"), (cluster.ClusterId, cluster.ServiceId));
        Assert.Equal("silo-7f9c-abcde", app.Services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);
        Assert.Equal(TimeSpan.FromSeconds(45), app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
        Assert.True(app.Services.GetRequiredService<WebExposure>().BeyondLoopback);
    }

    [Theory]
    [InlineData("--Urls", "http://0.0.0.0:8080")]
    [InlineData("--Urls", "http://127.0.0.1:5080;http://+:8080")]
    [InlineData("--Kestrel:Endpoints:Web:Url", "http://10.0.0.4:8080")]
    public void Build_BeyondLoopbackWithoutAToken_RefusesToStartNamingApiToken(string key, string url)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build(key, url));

        Assert.Contains("without Api:Token", error.Message, StringComparison.Ordinal);
        Assert.Contains(url.Split(';')[^1], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_ATokenTooShort_IsRefused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Build("--Urls", "http://0.0.0.0:8080", "--Api:Token", "short"));

        Assert.Contains("Api:Token must be at least 16 characters", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_LoopbackWithoutAToken_StartsOpen()
    {
        await using var app = Build("--Urls", "http://127.0.0.1:5080;http://localhost:5081;http://[::1]:5082");

        Assert.False(app.Services.GetRequiredService<WebExposure>().BeyondLoopback);
    }

    private const string Token = "test-token-0123456789abcdef";

    private static WebApplication Build(params string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = Environments.Development });
        builder.AddInsideLlmsSilo(args);
        return builder.Build();
    }
}
