using InsideLLMs.Distributed.Silo.Extensions;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Tests.Deployment;

public sealed class WebExposureTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://localhost:5080", true)]
    [InlineData("https://LOCALHOST:5443/base", true)]
    [InlineData("http://[::1]:5080", true)]
    [InlineData("http://127.0.0.2:5080", true)]
    [InlineData("http://0.0.0.0:8080", false)]
    [InlineData("http://[::]:8080", false)]
    [InlineData("http://*:8080", false)]
    [InlineData("http://+:8080", false)]
    [InlineData("http://10.1.2.3:8080", false)]
    [InlineData("http://silo.example:8080", false)]
    [InlineData("http://localhost.example:8080", false)]
    public void IsLoopback_OnlyLocalhostAndLoopbackAddresses(string url, bool loopback)
    {
        Assert.Equal(loopback, WebExposure.IsLoopback(url));
    }

    [Fact]
    public void From_KestrelEndpoints_ReplaceUrls()
    {
        var exposure = WebExposure.From(Configuration(("urls", "http://127.0.0.1:5080"), ("Kestrel:Endpoints:Web:Url", "http://0.0.0.0:8080")));

        Assert.Equal(["http://0.0.0.0:8080"], exposure.Urls);
        Assert.True(exposure.BeyondLoopback);
    }

    [Fact]
    public void From_HttpPortsWithoutUrls_IsEveryAddress()
    {
        var exposure = WebExposure.From(Configuration(("http_ports", "8080")));

        Assert.Equal(["http://*:8080"], exposure.Urls);
        Assert.True(exposure.BeyondLoopback);
    }

    [Fact]
    public void From_Nothing_IsAspNetCoresLocalhostDefault()
    {
        var exposure = WebExposure.From(Configuration());

        Assert.Equal([WebExposure.DefaultUrl], exposure.Urls);
        Assert.False(exposure.BeyondLoopback);
    }

    [Fact]
    public void From_OneOfSeveralUrlsBeyondLoopback_IsBeyondLoopback()
    {
        Assert.True(WebExposure.From(Configuration(("urls", "http://127.0.0.1:5080; http://0.0.0.0:8080"))).BeyondLoopback);
        Assert.False(WebExposure.From(Configuration(("urls", "http://127.0.0.1:5080;http://localhost:5081"))).BeyondLoopback);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) => new ConfigurationBuilder()
        .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
        .Build();
}
