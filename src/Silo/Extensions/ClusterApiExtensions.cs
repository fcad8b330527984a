using InsideLLMs.Distributed.Contracts.Cluster;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary><c>GET /api/cluster</c>: the silos, their status and address, and the grains each one holds.</summary>
public static class ClusterApiExtensions
{
    public static IEndpointRouteBuilder MapClusterApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/cluster", async (IGrainFactory grains) => Results.Ok(await ClusterView.ReadAsync(grains))).WithReadTimeout();
        return app;
    }
}
