# The chaos binary in a minimal image, for in-cluster game days (deploy/rbac).
#   docker build -t registry.example.com/faultline/chaos:v0.1.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /chaos ./cmd/chaos

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /chaos /chaos
ENTRYPOINT ["/chaos"]
