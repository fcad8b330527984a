using InsideLLMs.Distributed.Grains.Hosting;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Tests.Hosting;

public sealed class RlhfOptionsTests
{
    [Fact]
    public void From_EmptyConfiguration_SamplesRankingTasksAtOnePointFive()
    {
        var options = RlhfOptions.From(Configuration());

        Assert.Equal(1.5, options.RankingTemperature);
        Assert.Equal(24, options.MaxCompletionTokens);
        Assert.Equal(TimeSpan.FromMinutes(60), options.TaskLifetime);
    }

    [Fact]
    public void From_RankingTemperature_IsRead()
    {
        Assert.Equal(0.7, RlhfOptions.From(Configuration(("Rlhf:RankingTemperature", "0.7"))).RankingTemperature);
    }

    [Theory]
    [InlineData("0", "Rlhf:RankingTemperature must be a number above zero; got '0'.")]
    [InlineData("warm", "Rlhf:RankingTemperature must be a number above zero; got 'warm'.")]
    [InlineData("6", "Rlhf:RankingTemperature must be at most 5; got 6.")]
    public void From_BadRankingTemperature_ThrowsNamingTheKey(string value, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => RlhfOptions.From(Configuration(("Rlhf:RankingTemperature", value))));

        Assert.Equal(message, error.Message);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();
}
