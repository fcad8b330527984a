using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;

namespace InsideLLMs.Distributed.Tests.Client;

public sealed class GatewayListTests
{
    [Fact]
    public void Parse_SeveralEntries_KeepsHostsAndPortsInOrder()
    {
        var gateways = GatewayList.Parse(" 127.0.0.1:30000, localhost:30001,[::1]:30002");

        Assert.Equal([new("127.0.0.1", 30000), new("localhost", 30001), new GatewayAddress("::1", 30002)], gateways);
        Assert.Equal("[::1]:30002", gateways[2].ToString());
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData(":30000")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:abc")]
    [InlineData(" , ")]
    public void Parse_BadEntry_IsAUsageErrorShowingTheForm(string text)
    {
        var error = Assert.Throws<CliUsageException>(() => GatewayList.Parse(text));
        Assert.Contains("127.0.0.1:30000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_OptionBeatsEnvironmentBeatsDefault()
    {
        static string? Environment(string name) => name == GatewayList.EnvironmentVariable ? "10.0.0.1:30005" : null;

        Assert.Equal([new GatewayAddress("h", 1)], GatewayList.Resolve("h:1", Environment));
        Assert.Equal([new GatewayAddress("10.0.0.1", 30005)], GatewayList.Resolve(null, Environment));
        Assert.Equal([new GatewayAddress("127.0.0.1", 30000)], GatewayList.Resolve(null, _ => null));
    }
}
